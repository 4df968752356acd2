"""The in-container harness: the code that runs inside the sandbox, beside the learner's.

Standard library only (and pytest, in the test process), Python 3.11, installed read-only at
/opt/grader/grader_harness in every runner image; the scripts in runners/harness/ are its entry points
there. Importing it runs nothing.

* `protocol`: the stream between the worker and the harness (prefixes, events, configuration, container
  paths): the worker imports it too.
* `supervisor` (trusted side, /opt/grader/harness.py): reads the configuration, starts the test process,
  verifies its signed events (`signing`), captures and splits its output (`output`, `relay`), kills
  what is left; `processes`, `service` and `config` are its helpers.
* `child` (the test process, /opt/grader/child.py): pytest with the reporter, the guard, the integrity
  snapshot, the boundaries and the per-test time limit.
* `bridge` (isolated unit mode): `agent` (/opt/grader/agent.py, the learner's container), `client`
  (the test process) and their `codec`.
"""
