"""Isolated unit mode, the learner's container: `python3 -I /opt/grader/agent.py [SUBMISSION]`
(grader_harness.bridge.agent).

`-I` leaves this script's folder off sys.path, so the package beside it is put there for the imports
only, and taken off again before the learner's folder joins it.
"""

import os
import sys

sys.dont_write_bytecode = True
sys.pycache_prefix = "/tmp/pycache"  # a committed __pycache__ is never used instead of its source
HERE = os.path.dirname(os.path.abspath(__file__))  # /opt/grader in the runner image
sys.path.insert(0, HERE)
from grader_harness.bridge.agent import main  # noqa: E402

sys.path.remove(HERE)
main()
