"""The test process: `python3 -I /opt/grader/child.py CONFIG_FD RESULTS_FD [BRIDGE_IN BRIDGE_OUT]`, started
by the supervisor (grader_harness.child.main).

`-I` leaves this script's folder off sys.path, so the package beside it is put there for the imports
only, and taken off again before anything runs (the learner's folder joins sys.path last).
"""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))  # /opt/grader in the runner image
sys.path.insert(0, HERE)
from grader_harness.child.main import main  # noqa: E402

sys.path.remove(HERE)
main()
