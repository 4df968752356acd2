"""The runner image's entry point: `python3 -I /opt/grader/harness.py` (grader_harness.supervisor).

`-I` leaves this script's folder off sys.path, so the package beside it is put there for the imports
only, and taken off again before anything runs.
"""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))  # /opt/grader in the runner image
sys.path.insert(0, HERE)
from grader_harness.supervisor import main  # noqa: E402

sys.path.remove(HERE)
main()
