"""`grader soak`: many submissions through the real stack, and what was left afterwards.

Starts its own Redis (scripts/start-services.sh), the API and N queue workers (`grader serve
--grading-workers N`, SQLite in a scratch home), a loopback git server, publishes the bundled py-ledger
assignment, then pushes `--count` submissions through the API, a few in flight at a time: passing
(the reference and partial solutions), failing, malicious (the failing solution with hostile code run
at import: forged harness lines, a fork storm, an output flood, reading the host, killing its own
process) and malformed (a repository that does not exist, a ref that does not exist). When every
accepted submission has settled it reports, from the store and the Docker engine:

- every accepted submission terminal, none lost;
- one grade per graded submission, at most one credential per submission, none for a failing grade;
- no sandbox container, network or scratch folder left;
- the memory (resident set) of the API and of the workers, sampled through the run: first and last
  quarter, and the peak.

Exit status 0 when every check holds. The report is printed as Markdown (docs/soak.md has one).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import typer

ROOT = Path(__file__).resolve().parents[2]
LEDGER = ROOT / "assignments" / "py-ledger"
SOAK_OWNER = "soak"
OWNER_ENV = "GRADER_SANDBOX_OWNER"

# Hostile code run when the learner's package is imported (prefixed to ledger/__init__.py of the
# failing solution): each must end graded as failing, never passing, never breaking the worker.
MALICIOUS = {
    "forged-results": """
        import sys as _s
        _s.stdout.write('@@grader:guess:{"event":"finish","exit_status":0}\\n')
        _s.stdout.write('@@grader:guess:{"event":"end","timed_out":false,"child_finished":true,"child_exit":0}\\n')
        """,
    "fork-storm": """
        import os as _os
        for _ in range(200):
            try:
                if _os.fork() == 0:
                    import time as _t
                    _t.sleep(3)
                    _os._exit(0)
            except OSError:
                break
        """,
    "output-flood": """
        import sys as _s
        for _ in range(2000):
            _s.stdout.write("x" * 4096 + "\\n")
        """,
    "read-the-host": """
        import os as _os
        for _p in ("/etc/shadow", "/proc/1/environ", "/var/run/docker.sock"):
            try:
                open(_p, "rb").read(64)
            except OSError:
                pass
        """,
    "kill-itself": """
        import os as _os, signal as _sig
        try:
            _os.kill(_os.getpid(), _sig.SIGKILL)
        except OSError:
            pass
        """,
}

# Every kind of submission and its share of the run (out of 20).
MIX = {"passing": 6, "failing": 4, "malicious": 5, "malformed": 5}


@dataclass
class Sample:
    at: float
    api_kib: int
    workers_kib: int


@dataclass
class Run:
    accepted: dict[str, str] = field(default_factory=dict)  # submission id -> kind
    refused: Counter[str] = field(default_factory=Counter)  # kind -> answers other than 201/202
    retried: int = 0  # 503 answers asked again with the same idempotency key
    samples: list[Sample] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)


def _rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _children(pid: int) -> list[int]:
    found: list[int] = []
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return found
    for task in tasks:
        try:
            found += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


def _tree(pid: int) -> list[int]:
    pending, seen = [pid], []
    while pending:
        current = pending.pop()
        seen.append(current)
        pending += _children(current)
    return seen


def _memory(serve_pid: int) -> Sample:
    """The API (the serve process) and the workers (every other process below it: the pool, its rq
    workers and their work horses at that instant)."""
    tree = _tree(serve_pid)
    workers = sum(_rss_kib(p) for p in tree[1:])
    return Sample(time.monotonic(), _rss_kib(serve_pid), workers)


def _solution_files(name: str) -> dict[str, str]:
    root = LEDGER / "solutions" / name
    return {p.relative_to(root).as_posix(): p.read_text() for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts}


def _hostile(prefix: str) -> dict[str, str]:
    files = _solution_files("failing")
    files["ledger/__init__.py"] = textwrap.dedent(prefix) + "\n" + files["ledger/__init__.py"]
    return files


def _publish(git: Any, name: str, files: dict[str, str], scratch: Path) -> str:
    source = scratch / name
    for rel, text in files.items():
        target = source / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    return str(git.publish(name, source))


def _plan(count: int) -> list[str]:
    """The kinds of `count` submissions, interleaved in the MIX proportions."""
    cycle = [kind for kind, share in MIX.items() for _ in range(share)]
    order = [cycle[(i * 7) % len(cycle)] for i in range(len(cycle))]  # spread the kinds over the cycle
    return [order[i % len(order)] for i in range(count)]


def _leftover_folders(work: Path) -> list[str]:
    return sorted(p.name for p in work.iterdir()) if work.is_dir() else []


def _store_checks(database: Path) -> dict[str, Any]:
    """Duplicates and credentials, counted in the store itself."""
    import sqlite3

    with sqlite3.connect(database) as db:

        def one(sql: str) -> int:
            return int(db.execute(sql).fetchone()[0])

        return {
            "states": dict(db.execute("SELECT state, count(*) FROM submissions GROUP BY state").fetchall()),
            "graded_without_grade": one(
                "SELECT count(*) FROM submissions s WHERE s.state = 'graded' AND NOT EXISTS "
                "(SELECT 1 FROM grades g WHERE g.submission_id = s.id)"
            ),
            "duplicate_grades": one(
                "SELECT count(*) FROM (SELECT submission_id, run FROM grades GROUP BY submission_id, run HAVING count(*) > 1)"
            ),
            "submissions_with_two_grades": one(
                "SELECT count(*) FROM (SELECT submission_id FROM grades GROUP BY submission_id HAVING count(*) > 1)"
            ),
            "duplicate_credentials": one(
                "SELECT count(*) FROM (SELECT submission_id FROM credentials GROUP BY submission_id HAVING count(*) > 1)"
            ),
            "credentials": one("SELECT count(*) FROM credentials"),
            "credentials_of_failing_grades": one(
                "SELECT count(*) FROM credentials c JOIN grades g ON g.id = c.grade_id WHERE g.passed = 0"
            ),
            "held_for_review": one("SELECT count(*) FROM reviews WHERE state = 'pending'"),
            "passing_grades_without_credential_or_review": one(
                "SELECT count(*) FROM grades g WHERE g.passed = 1 AND NOT EXISTS "
                "(SELECT 1 FROM credentials c WHERE c.submission_id = g.submission_id) AND NOT EXISTS "
                "(SELECT 1 FROM reviews r WHERE r.submission_id = g.submission_id)"
            ),
        }


def _quarters(values: list[int]) -> tuple[float, float, int]:
    if not values:
        return 0.0, 0.0, 0
    quarter = max(len(values) // 4, 1)
    return statistics.median(values[:quarter]), statistics.median(values[-quarter:]), max(values)


def _flat(first: float, last: float, tolerance: float = 0.25) -> bool:
    return first > 0 and last <= first * (1 + tolerance)


def soak(
    count: Annotated[int, typer.Option(min=1, help="How many submissions to push through")] = 1000,
    workers: Annotated[int, typer.Option(min=1, max=16, help="Queue workers beside the API")] = 2,
    in_flight: Annotated[int, typer.Option(min=1, help="Submissions accepted but not settled, at most")] = 16,
    timeout_s: Annotated[float, typer.Option(help="Give up waiting for the run to settle after this long")] = 10800,
    report: Annotated[Path | None, typer.Option(help="Also write the Markdown report to this file")] = None,
) -> None:
    """Push many submissions (passing, failing, malicious, malformed) through the real stack and report."""
    from grader.demo.gitserver import LoopbackGitServer
    from grader.demo.stack import api_and_workers, assignment_tarball, free_port, redis_on_loopback, wait_checked

    os.environ[OWNER_ENV] = SOAK_OWNER
    run = Run()
    with tempfile.TemporaryDirectory(prefix="grader-soak-") as tmp, LoopbackGitServer(Path(tmp) / "git") as git:
        home = Path(tmp) / "home"
        stack_tmp = Path(tmp) / "tmp"
        stack_tmp.mkdir()
        port = free_port()
        with redis_on_loopback(Path(tmp) / "services") as redis_url:
            env = {
                **os.environ,
                "GRADER_HOME": str(home),
                "GRADER_REDIS_URL": redis_url,
                "GRADER_PUBLIC_URL": f"http://127.0.0.1:{port}",
                "GRADER_ALLOWED_HOSTS": json.dumps([git.host]),
                "GRADER_ALLOWED_SCHEMES": json.dumps(["http", "https"]),
                "GRADER_SANDBOX_OWNER": SOAK_OWNER,
                "GRADER_LEARNER_SUBMISSIONS_PER_HOUR": "100000",
                "GRADER_TENANT_SUBMISSIONS_PER_MINUTE": "100000",
                "GRADER_KEY_PASSPHRASE": "soak passphrase",
                # The stack's own temp folder: what its processes leave there is theirs, not another grader's.
                "TMPDIR": str(stack_tmp),
            }
            grader = [sys.executable, "-m", "grader"]
            subprocess.run([*grader, "db", "upgrade"], env=env, check=True, capture_output=True)
            made = subprocess.run(
                [*grader, "tenant", "create", "soak", "--json"], env=env, check=True, capture_output=True, text=True
            )
            key = json.loads(made.stdout)["admin_key"]
            scratch = Path(tmp) / "sources"
            with api_and_workers(env, port, Path(tmp) / "serve.log", workers) as base:
                serve_pid = _serve_pid(port)
                import httpx

                client = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=60)
                upload = client.post(
                    "/api/v1/assignments", content=assignment_tarball(LEDGER), headers={"Content-Type": "application/gzip"}
                )
                upload.raise_for_status()
                check = wait_checked(client, "py-ledger", "1.0.0")
                if check["status"] != "published":
                    typer.echo(f"the assignment was not published: {check['detail']}", err=True)
                    raise typer.Exit(1)
                stop = threading.Event()
                sampler = threading.Thread(target=_sample, args=(run, serve_pid, stop), daemon=True)
                sampler.start()
                body_of = _bodies(git, scratch)
                run.started = time.monotonic()
                _push(client, run, _plan(count), body_of, in_flight, timeout_s)
                stop.set()
                sampler.join(timeout=10)
                elapsed = time.monotonic() - run.started
                time.sleep(3)  # let the pool's janitor and the workers' cleanup finish their round
                from grader.sandbox.containers import leftover_containers, leftover_networks

                leftovers = {
                    "containers": leftover_containers(),
                    "networks": leftover_networks(),
                    "folders": _leftover_folders(home / "work"),
                    "tmp": _leftover_folders(stack_tmp),
                }
                states = _final_states(client, run)
                client.close()
            checks = _store_checks(home / "grader.db")
    text, ok = _report(count, workers, run, states, checks, leftovers, elapsed)
    typer.echo(text)
    if report is not None:
        report.write_text(text)
    raise typer.Exit(0 if ok else 1)



def _serve_pid(port: int) -> int:
    """The pid of the `grader serve` listening on `port` (the API process the memory samples follow)."""
    found = subprocess.run(["ss", "-Htlnp", f"sport = :{port}"], capture_output=True, text=True).stdout
    marker = "pid="
    return int(found.split(marker, 1)[1].split(",", 1)[0]) if marker in found else 0


def _sample(run: Run, serve_pid: int, stop: threading.Event) -> None:
    while not stop.wait(5):
        run.samples.append(_memory(serve_pid))


def _bodies(git: Any, scratch: Path) -> Callable[[str, int], dict[str, Any]]:
    """Each submission's request, from a repository of its own (every learner pushes their own commit:
    the solution plus a file naming them)."""
    names = sorted(MALICIOUS)

    def repository(index: int, files: dict[str, str]) -> str:
        mine = files | {"AUTHOR.md": f"soak learner {index}\n"}
        return _publish(git, f"soak-{index}", mine, scratch)

    def body(kind: str, index: int) -> dict[str, Any]:
        common = {"assignment": "py-ledger", "learner": f"soak-{index}@example.org"}
        if kind == "passing":
            return common | {"repo_url": repository(index, _solution_files("reference" if index % 2 else "partial"))}
        if kind == "failing":
            return common | {"repo_url": repository(index, _solution_files("failing"))}
        if kind == "malicious":
            return common | {"repo_url": repository(index, _hostile(MALICIOUS[names[index % len(names)]]))}
        if index % 2:
            return common | {"repo_url": f"http://{git.host}/no-such-repository-{index}.git"}
        return common | {"repo_url": repository(index, _solution_files("reference")), "ref": f"no-such-branch-{index}"}

    return body


def _push(
    client: Any, run: Run, plan: list[str], body_of: Callable[[str, int], dict[str, Any]], in_flight: int, timeout_s: float
) -> None:
    """Submit the plan, keeping at most `in_flight` unsettled; then wait for the last ones."""
    open_ids: set[str] = set()
    deadline = time.monotonic() + timeout_s

    def settle() -> None:
        for submission_id in list(open_ids):
            state = client.get(f"/api/v1/submissions/{submission_id}").json()["state"]
            if state in ("graded", "rejected", "error"):
                open_ids.discard(submission_id)

    def post(index: int) -> tuple[int, Any]:
        """Submit as a careful client does: a 503 (the store busy) is asked again after its Retry-After,
        with the same idempotency key, so that a request accepted meanwhile is answered as such."""
        kind = plan[index]
        body = body_of(kind, index)
        for _ in range(5):
            answer = client.post("/api/v1/submissions", json=body, headers={"Idempotency-Key": f"soak-{index}"})
            if answer.status_code != 503:
                break
            run.retried += 1
            time.sleep(min(float(answer.headers.get("Retry-After") or 1), 10))
        return index, answer

    shown = time.monotonic()

    def progress() -> None:
        nonlocal shown
        if time.monotonic() - shown >= 30:
            shown = time.monotonic()
            minutes = (shown - run.started) / 60
            settled = len(run.accepted) - len(open_ids)
            typer.echo(f"[soak] {minutes:.1f} min: accepted {len(run.accepted)}, settled {settled}", err=True)

    with ThreadPoolExecutor(max_workers=4) as pool:
        index = 0
        while index < len(plan) and time.monotonic() < deadline:
            room = in_flight - len(open_ids)
            batch = list(range(index, min(index + max(room, 0), len(plan))))
            for i, answer in pool.map(post, batch):
                if answer.status_code in (201, 202):
                    run.accepted[answer.json()["id"]] = plan[i]
                    open_ids.add(answer.json()["id"])
                else:
                    run.refused[f"{plan[i]} {answer.status_code}"] += 1
            index += len(batch)
            time.sleep(1)
            settle()
            progress()
    while open_ids and time.monotonic() < deadline:
        time.sleep(2)
        settle()
        progress()


def _final_states(client: Any, run: Run) -> Counter[str]:
    found: Counter[str] = Counter()
    for submission_id, kind in run.accepted.items():
        body = client.get(f"/api/v1/submissions/{submission_id}").json()
        verdict = body["state"]
        if verdict == "graded":
            verdict += " passed" if body.get("passed") else " failed"
        found[f"{kind}: {verdict}"] += 1
    return found


def _report(
    count: int,
    workers: int,
    run: Run,
    states: Counter[str],
    checks: dict[str, Any],
    leftovers: dict[str, list[str]],
    elapsed: float,
) -> tuple[str, bool]:
    terminal = sum(n for s, n in states.items() if s.split(": ")[1].split()[0] in ("graded", "rejected", "error"))
    lost = len(run.accepted) - terminal
    malicious_passed = states.get("malicious: graded passed", 0)
    api = _quarters([s.api_kib for s in run.samples])
    pool = _quarters([s.workers_kib for s in run.samples])
    verdicts = {
        "every accepted submission terminal (0 lost)": lost == 0,
        "0 duplicate grades": checks["duplicate_grades"] == 0 and checks["submissions_with_two_grades"] == 0,
        "0 duplicate credentials": checks["duplicate_credentials"] == 0,
        "no credential for a failing grade": checks["credentials_of_failing_grades"] == 0,
        "every passing grade credentialed or held for review": checks["passing_grades_without_credential_or_review"] == 0,
        "no malicious submission passed": malicious_passed == 0,
        "0 leaked containers": not leftovers["containers"],
        "0 leaked networks": not leftovers["networks"],
        "0 leaked scratch folders": not leftovers["folders"] and not leftovers["tmp"],
        "API memory flat (last quarter within 25% of the first)": _flat(api[0], api[1]),
        "worker memory flat (last quarter within 25% of the first)": _flat(pool[0], pool[1]),
    }
    lines = [
        f"# Soak: {count} submissions, {workers} workers",
        "",
        f"- pushed {count} submissions and waited for the last to settle in {elapsed / 60:.1f} min ({count / max(elapsed, 1) * 60:.1f} per minute);"
        f" accepted {len(run.accepted)}, answered otherwise {sum(run.refused.values())} {dict(run.refused)};"
        f" 503 (store busy) asked again with the same idempotency key {run.retried}",
        f"- terminal {terminal}, lost {lost}; store: {checks['states']}",
        f"- grades: duplicates {checks['duplicate_grades']}, submissions with two grades "
        f"{checks['submissions_with_two_grades']}, graded without a grade {checks['graded_without_grade']}",
        f"- credentials: {checks['credentials']}, duplicates {checks['duplicate_credentials']}, for failing grades "
        f"{checks['credentials_of_failing_grades']}; passing grades held for an instructor's review (authenticity: "
        f"the same or similar code as an earlier learner's) {checks['held_for_review']}, passing grades with neither "
        f"a credential nor a review {checks['passing_grades_without_credential_or_review']}",
        f"- leftovers: containers {len(leftovers['containers'])}, networks {len(leftovers['networks'])}, "
        f"scratch folders {len(leftovers['folders'])}, temp folders {len(leftovers['tmp'])}",
        f"- memory (RSS, MiB; median of the first quarter -> last quarter, peak; {len(run.samples)} samples):"
        f" API {api[0] / 1024:.0f} -> {api[1] / 1024:.0f} (peak {api[2] / 1024:.0f});"
        f" workers {pool[0] / 1024:.0f} -> {pool[1] / 1024:.0f} (peak {pool[2] / 1024:.0f})",
        "",
        "| kind: end state | submissions |",
        "|---|---|",
        *(f"| {state} | {n} |" for state, n in sorted(states.items())),
        "",
        "| check | holds |",
        "|---|---|",
        *(f"| {name} | {'yes' if ok else '**no**'} |" for name, ok in verdicts.items()),
        "",
    ]
    return "\n".join(lines), all(verdicts.values())
