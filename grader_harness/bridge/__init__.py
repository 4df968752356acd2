"""Isolated unit mode's bridge: the learner's package runs in a container of its own (`agent`) and the
author's tests see it as proxies (`client`, in the test process); values cross as JSON by value (`codec`).
The worker's relay (grader/sandbox/bridge_relay.py) joins the two containers' stdio."""
