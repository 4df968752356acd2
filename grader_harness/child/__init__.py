"""In-container harness, learner side: the test process, which runs pytest over the author's suites with
the learner's code importable (in-process unit mode) or proxied (isolated unit mode, grader_harness.bridge).

Everything that decides a result is set up before the learner's folder joins sys.path:

* the run configuration (signing key, test sources, canaries) is read from a pipe, never a file;
* the process becomes non-dumpable, so learner subprocesses cannot read its memory;
* the test modules are compiled from the sources the harness sent (`modules`), with pytest's assertion
  rewriting, planted must-fail canaries and a check that flags always-equal objects in `==` and `in`
  (`equality`);
* an audit hook (which cannot be removed) blocks and reports learner code that reads test or harness
  files, snoops /proc, introspects the test's frames or code, walks the garbage collector, uses
  ctypes, installs tracers or audit hooks, signals the harness or writes outside /tmp (`guard`);
* a snapshot of pytest's and pluggy's modules and classes is checked before each test module is
  executed and before each result is sent, so patching the reporting machinery is reported (`integrity`);
* every event (one per test phase; the harness adds the phases up into results) is signed
  (HMAC-SHA256 over a sequence-numbered body) with functions captured at start, so events written into
  the result pipe by anyone else are recognised by the harness as forged (`grader_harness.signing`);
* each test's beginning and end is marked to the harness (`boundaries`), which waits for the harness's
  acknowledgement, so the harness can split the output it captures by test; pytest's own terminal
  report is silenced, so that output is the program's (and the tests') alone (`reporter`);
* the global references through which any code could reach pytest's config, and so the reporter, are
  cut (the assertion import hook, MARK_GEN's config, the assertion plugin's per-test globals);
* a test running past limits.test_timeout_s fails alone (`timelimit`).

In-process defences raise the bar; they are not a proof against code running in the same interpreter.
SECURITY.md says what they cover and what they do not; service mode is the mode without that limit.
Only the standard library and pytest are used. Nothing sensitive is kept in module globals: learner
code can reach every module here through sys.modules.

Importing this package (or any module of it) runs nothing; `main.main()` is the entry point.
"""
