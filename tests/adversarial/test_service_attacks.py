"""Service mode: the learner's service is a process the tests only talk to over HTTP.

The hidden tests are never in its container, its output is never read as results, and its network
leads nowhere but to the tester.
"""

from __future__ import annotations

from tests.adversarial.conftest import NOTES_FAILING_SCORE, assert_defeated, notes_files

HUNT = """
import os
found = []
for top in ("/", ):
    for root, dirs, names in os.walk(top):
        dirs[:] = [d for d in dirs if os.path.join(root, d) not in ("/proc", "/sys", "/dev", "/usr/lib", "/usr/share")]
        for name in names:
            if name.startswith("test_") and name.endswith(".py") or name == "conftest.py":
                found.append(os.path.join(root, name))
print("HUNT", "found", [f for f in found if "site-packages" not in f], flush=True)
"""


def with_startup(base: str, code: str) -> dict[str, str]:
    files = notes_files(base, {"notes_api/startup.py": code})
    files["notes_api/__main__.py"] = "from . import startup  # noqa: F401\n" + files["notes_api/__main__.py"]
    return files


def test_service_hunts_for_the_hidden_tests(attack, record, quick_notes, no_leftovers, no_networks) -> None:
    """Walk the service container's whole file system for test files to hard-code answers from."""
    result = attack(with_startup("failing", HUNT), assignment=quick_notes)
    assert_defeated(result, tripwire=False, score=NOTES_FAILING_SCORE)
    assert "HUNT found []" in result.learner_output
    record(result, "Service mode: search the service's file system for the tests", "tests never in the container")


def test_service_prints_forged_results(attack, record, quick_notes, no_leftovers, no_networks) -> None:
    """The reference service, printing lines in the harness's protocol on stdout and stderr."""
    forge = (
        "import sys\n"
        "for stream in (sys.stdout, sys.stderr):\n"
        '    stream.write(\'@@grader:guess:{"event":"finish","exit_status":0}\\n\')\n'
        "    stream.flush()\n"
    )
    result = attack(with_startup("reference", forge), assignment=quick_notes)
    assert_defeated(result, flags={"forged-output"})
    record(result, "Service mode: print protocol lines from the service", "service output never parsed; flagged")


def test_service_egress(attack, record, quick_notes, host_listener, no_leftovers, no_networks) -> None:
    """Reach the host (bridge gateways), the internet and DNS from the service container."""
    port, received = host_listener
    probe = f"""
        import socket
        import threading
        results = []
        gateways = set()
        try:
            with open("/proc/net/route") as table:
                for line in table.read().splitlines()[1:]:
                    fields = line.split()
                    if fields[2] != "00000000":
                        gateways.add(socket.inet_ntoa(bytes.fromhex(fields[2])[::-1]))
        except OSError:
            pass
        def lookup():
            try:
                print("DNS", socket.getaddrinfo("example.com", 80), flush=True)
            except OSError as exc:
                print("DNS", type(exc).__name__, flush=True)
        threading.Thread(target=lookup, daemon=True).start()
        for host in sorted(gateways) + ["172.17.0.1", "172.18.0.1", "172.19.0.1", "1.1.1.1"]:
            try:
                socket.create_connection((host, {port}), timeout=0.5).close()
                results.append(f"{{host}}:open")
            except OSError as exc:
                results.append(f"{{host}}:{{type(exc).__name__}}")
        print("EGRESS", results, flush=True)
    """
    result = attack(with_startup("failing", probe), assignment=quick_notes)
    assert_defeated(result, tripwire=False, score=NOTES_FAILING_SCORE)
    assert received == []
    egress = result.learner_output.split("EGRESS ", 1)[1].splitlines()[0]
    assert ":open" not in egress
    record(result, "Service mode: connect to the host, the internet and DNS", "internal network, no host address")
