"""Fetch attacks against the real fetch path and a real git smart-HTTP server on loopback.

Each one is refused with the rule it broke, before anything from the repository reaches the host's
file system (and, for URL rules, before any request is made).
"""

from __future__ import annotations

import os
import secrets
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from grader.config import Settings
from grader.core.urlpolicy import UrlRefused
from grader.demo.gitserver import LoopbackGitServer, learner_git_env
from grader.fetch.repository import FetchRefused, fetch_snapshot
from tests.conftest import LEDGER_SOLUTIONS

pytestmark = pytest.mark.integration

LFS_POINTER = (
    "version https://git-lfs.github.com/spec/v1\n"
    "oid sha256:4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393\n"
    "size 104857600\n"
)


def git(*args: str, cwd: Path) -> str:
    env = learner_git_env(cwd)
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True).stdout


class RequestLog:
    """Every path the loopback git server was asked for (a route that answers nothing itself)."""

    def __init__(self) -> None:
        self.paths: list[str] = []

    def __call__(self, handler: BaseHTTPRequestHandler) -> bool:
        self.paths.append(handler.path)
        return False

    def since(self, mark: int) -> list[str]:
        return self.paths[mark:]


@pytest.fixture(scope="module")
def requests(git_server: LoopbackGitServer) -> RequestLog:
    log = RequestLog()
    git_server.add_route(log)
    return log


@pytest.fixture
def dest(tmp_path: Path) -> Path:
    return tmp_path / "snapshot"


def build_repo(server: LoopbackGitServer, tmp_path: Path, files: dict[str, str | bytes], setup=None, index=None) -> str:  # type: ignore[no-untyped-def]
    """A bare repository on the server, committed from `files`, plus what `setup(work)` puts in the work
    tree and what `index(work)` puts straight into the index (gitlinks)."""
    name = f"attack-{secrets.token_hex(4)}"
    work = tmp_path / f"work-{name}"
    work.mkdir()
    git("init", "-q", "-b", "main", cwd=work)
    for rel, content in files.items():
        target = work / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content) if isinstance(content, bytes) else target.write_text(content)
    if setup is not None:
        setup(work)
    git("add", "-A", cwd=work)
    if index is not None:
        index(work)
    git("commit", "-q", "-m", name, cwd=work)
    git("clone", "-q", "--bare", str(work), str(server.root / f"{name}.git"), cwd=tmp_path)
    return server.url(name)


def ledger_files(name: str = "reference") -> dict[str, str | bytes]:
    root = LEDGER_SOLUTIONS / name
    return {p.relative_to(root).as_posix(): p.read_text() for p in root.rglob("*.py") if "__pycache__" not in p.parts}


# -- URL rules: refused before any request --------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "rule"),
    [
        ("ext::sh -c touch% /tmp/grader-pwned", "transport-helper"),
        ("ext::sh -c 'touch /tmp/grader-pwned'", "transport-helper"),
        ("fd::17", "transport-helper"),
        ("file:///etc", "local-path"),
        ("file://localhost/srv/repo.git", "local-path"),
        ("/srv/repos/learner.git", "local-path"),
        ("./learner", "local-path"),
        ("../../etc", "local-path"),
        ("~/learner", "local-path"),
        ("-uupload-pack=touch /tmp/grader-pwned", "option-injection"),
        ("--upload-pack=touch /tmp/grader-pwned", "option-injection"),
        ("--config=core.sshCommand=touch /tmp/grader-pwned", "option-injection"),
    ],
)
def test_url_attacks_refused_before_any_request(
    url: str, rule: str, grading_settings: Settings, requests: RequestLog, dest: Path
) -> None:
    mark = len(requests.paths)
    with pytest.raises(UrlRefused) as refused:
        fetch_snapshot(url, None, dest, grading_settings)
    assert refused.value.rule == rule
    assert requests.since(mark) == []
    assert not dest.exists()
    assert not Path("/tmp/grader-pwned").exists()


@pytest.mark.parametrize(
    ("template", "rule"),
    [
        ("http://learner:secret@{host}/repo.git", "userinfo"),
        ("http://learner@{host}/repo.git", "userinfo"),
        ("http://{host}@evil.example/repo.git", "userinfo"),
        ("http://evil.example/repo.git", "host-not-allowed"),
        ("http://127.0.0.1:1/repo.git", "host-not-allowed"),  # loopback, but not the allowed port
        ("http://localhost:{port}/repo.git", "host-not-allowed"),  # same socket, name not on the list
        ("http://[::1]:{port}/repo.git", "host-not-allowed"),
        ("http://2130706433:{port}/repo.git", "host-not-allowed"),  # 127.0.0.1 as one integer
        ("http://0x7f000001:{port}/repo.git", "host-not-allowed"),
        ("http://10.0.0.1/repo.git", "host-not-allowed"),
        ("http://169.254.169.254/latest/meta-data", "host-not-allowed"),
        ("ftp://{host}/repo.git", "scheme"),
        ("ssh://{host}/repo.git", "scheme"),
        ("http://{host}/%2e%2e/repo.git", "path"),
        ("http://{host}/repo.git?upload-pack=x", "query"),
    ],
)
def test_user_info_and_hosts_refused(
    template: str,
    rule: str,
    git_server: LoopbackGitServer,
    grading_settings: Settings,
    requests: RequestLog,
    dest: Path,
) -> None:
    host = git_server.host
    url = template.format(host=host, port=host.rsplit(":", 1)[1])
    mark = len(requests.paths)
    with pytest.raises(UrlRefused) as refused:
        fetch_snapshot(url, None, dest, grading_settings)
    assert refused.value.rule == rule
    assert requests.since(mark) == []


@pytest.mark.parametrize("ref", ["--upload-pack=touch /tmp/grader-pwned", "-u", "main..other", "HEAD@{1}", "a b"])
def test_option_injection_through_the_ref(
    ref: str, git_server: LoopbackGitServer, publish_solution, grading_settings: Settings, dest: Path
) -> None:
    with pytest.raises(UrlRefused) as refused:
        fetch_snapshot(publish_solution("reference"), ref, dest, grading_settings)
    assert refused.value.rule == "ref"
    assert not Path("/tmp/grader-pwned").exists()


# -- the server's answers ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def redirects(git_server: LoopbackGitServer) -> None:
    def route(handler: BaseHTTPRequestHandler) -> bool:
        if handler.path.startswith("/moved-away/"):
            target = "http://evil.example" + handler.path
        elif handler.path.startswith("/moved-here/"):
            target = handler.path.replace("/moved-here/", "/", 1)  # same allowed host, other path
        else:
            return False
        handler.send_response(302)
        handler.send_header("Location", target)
        handler.send_header("Content-Length", "0")
        handler.end_headers()
        return True

    git_server.add_route(route)


@pytest.mark.parametrize("prefix", ["moved-away", "moved-here"])
def test_redirect_refused(
    prefix: str,
    redirects: None,
    git_server: LoopbackGitServer,
    publish_solution,
    grading_settings: Settings,
    dest: Path,
) -> None:
    real = publish_solution("reference")
    url = real.replace(f"http://{git_server.host}/", f"http://{git_server.host}/{prefix}/")
    with pytest.raises(FetchRefused) as refused:
        fetch_snapshot(url, None, dest, grading_settings)
    assert refused.value.rule == "redirect"
    assert not dest.exists()


@pytest.fixture(scope="module")
def stalling(git_server: LoopbackGitServer) -> Iterator[None]:
    release = threading.Event()

    def route(handler: BaseHTTPRequestHandler) -> bool:
        if not handler.path.startswith("/stall"):
            return False
        handler.send_response(200)
        handler.send_header("Content-Type", "application/x-git-upload-pack-advertisement")
        handler.send_header("Content-Length", "100000")
        handler.end_headers()
        handler.wfile.write(b"001e# service=git-upload-pack\n")
        handler.wfile.flush()
        release.wait(30)  # then drop the connection
        return True

    git_server.add_route(route)
    yield
    release.set()


def test_stalled_clone_refused_in_bounded_time(
    stalling: None, git_server: LoopbackGitServer, grading_settings: Settings, dest: Path
) -> None:
    quick = grading_settings.model_copy(update={"fetch_timeout_s": 3})
    started = time.monotonic()
    with pytest.raises(FetchRefused) as refused:
        fetch_snapshot(f"http://{git_server.host}/stall.git", None, dest, quick)
    assert refused.value.rule == "stalled"
    assert time.monotonic() - started < 10
    assert not dest.exists()


# -- the repository's tree -----------------------------------------------------------------------


def test_symlinks_refused(git_server, grading_settings, tmp_path: Path, dest: Path) -> None:
    def links(work: Path) -> None:
        os.symlink("/etc/passwd", work / "ledger" / "passwd.py")

    url = build_repo(git_server, tmp_path, ledger_files(), links)
    with pytest.raises(FetchRefused) as refused:
        fetch_snapshot(url, None, dest, grading_settings)
    assert refused.value.rule == "symlink"
    assert not dest.exists()


def test_submodules_refused(git_server, grading_settings, tmp_path: Path, dest: Path) -> None:
    inner = build_repo(git_server, tmp_path, {"x.py": "x = 1\n"})

    def submodule(work: Path) -> None:
        sha = git("ls-remote", inner, "HEAD", cwd=work).split()[0]
        (work / ".gitmodules").write_text(f'[submodule "vendor"]\n\tpath = vendor\n\turl = {inner}\n')
        git("add", ".gitmodules", cwd=work)
        git("update-index", "--add", "--cacheinfo", f"160000,{sha},vendor", cwd=work)

    url = build_repo(git_server, tmp_path, ledger_files(), index=submodule)
    with pytest.raises(FetchRefused) as refused:
        fetch_snapshot(url, None, dest, grading_settings)
    assert refused.value.rule == "submodule"


def test_gitlink_without_gitmodules_refused(git_server, grading_settings, tmp_path: Path, dest: Path) -> None:
    def gitlink(work: Path) -> None:
        git("update-index", "--add", "--cacheinfo", f"160000,{'a' * 40},vendor", cwd=work)

    url = build_repo(git_server, tmp_path, ledger_files(), index=gitlink)
    with pytest.raises(FetchRefused) as refused:
        fetch_snapshot(url, None, dest, grading_settings)
    assert refused.value.rule == "submodule"


def test_lfs_pointers_are_kept_as_pointers(
    git_server, grading_settings, requests: RequestLog, tmp_path: Path, dest: Path
) -> None:
    files = ledger_files()
    files[".gitattributes"] = (
        "*.bin filter=lfs diff=lfs merge=lfs -text\nledger/book.py filter=lfs diff=lfs merge=lfs -text\n"
    )
    files["data/model.bin"] = LFS_POINTER
    files["ledger/book.py"] = LFS_POINTER
    url = build_repo(git_server, tmp_path, files)
    mark = len(requests.paths)
    snapshot = fetch_snapshot(url, None, dest, grading_settings)
    assert sorted(snapshot.lfs_pointers) == ["data/model.bin", "ledger/book.py"]
    assert (dest / "ledger" / "book.py").read_text() == LFS_POINTER
    assert not any("lfs" in path for path in requests.since(mark))


def test_lfs_pointer_is_graded_as_the_pointer(
    git_server, grade_url, requests: RequestLog, tmp_path: Path, no_leftovers
) -> None:
    files = ledger_files()
    files[".gitattributes"] = "ledger/book.py filter=lfs diff=lfs merge=lfs -text\n"
    files["ledger/book.py"] = LFS_POINTER
    url = build_repo(git_server, tmp_path, files)
    mark = len(requests.paths)
    result = grade_url(url)
    assert result.grade.passed is False and result.grade.score == 0.0
    assert any("could not be collected" in t.message for t in result.grade.tests)
    assert not any("lfs" in path for path in requests.since(mark))


def test_too_many_files_refused(git_server, grading_settings, tmp_path: Path, dest: Path) -> None:
    few = grading_settings.model_copy(update={"max_repo_files": 50})
    files = ledger_files() | {f"notes/n{i:03}.txt": f"{i}\n" for i in range(60)}
    url = build_repo(git_server, tmp_path, files)
    with pytest.raises(FetchRefused) as refused:
        fetch_snapshot(url, None, dest, few)
    assert refused.value.rule == "too-many-files"
    assert not dest.exists()


def test_too_large_refused(git_server, grading_settings, tmp_path: Path, dest: Path) -> None:
    small = grading_settings.model_copy(update={"max_repo_mb": 1})
    files = ledger_files() | {"data/blob.bin": os.urandom(3 * 1024 * 1024)}
    url = build_repo(git_server, tmp_path, files)
    with pytest.raises(FetchRefused) as refused:
        fetch_snapshot(url, None, dest, small)
    assert refused.value.rule == "too-large"
    assert not dest.exists()


def test_an_allowed_repository_still_fetches(publish_solution, grading_settings: Settings, dest: Path) -> None:
    """The control: the same policy lets a plain repository through, pinned to its commit."""
    snapshot = fetch_snapshot(publish_solution("reference"), None, dest, grading_settings)
    assert len(snapshot.commit) == 40 and (dest / "ledger" / "book.py").is_file()
    assert snapshot.lfs_pointers == []
