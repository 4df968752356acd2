import probe

# Never passed to the learner's code: if the probe can find this string anywhere (memory, files,
# processes), the tests' own objects were within the learner's reach.
HIDDEN_MARKER = "grader-probe-" + "hidden-marker-7f3a9c"


def test_nothing_of_the_tester_is_reachable():
    report = probe.search()
    # The search really ran: it scanned the learner process's objects, frames, files and processes.
    assert report["scanned_objects"] > 1000 and report["scanned_files"] > 10 and report["processes"] >= 1
    assert report["found"] == []
