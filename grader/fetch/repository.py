"""Safe fetch of a learner's repository into an immutable snapshot of one commit.

git fetches into a bare repository with every dangerous feature off (no hooks, no submodules, no
LFS smudge, no redirects, no protocols but the allowed ones). Nothing from the repository touches the
host's file system until its tree has been checked: the snapshot is written by us, blob by blob, as
plain files, so symlinks, gitlinks and odd paths never reach the disk.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import select
import shutil
import stat
import subprocess
import tempfile
import time
from collections.abc import Callable, Generator, Iterator
from pathlib import Path, PurePosixPath

import git
from git.exc import GitCommandError
from pydantic import BaseModel

from grader.config import Settings
from grader.core.errors import LearnerFault, SystemFault
from grader.core.ownership import OwnershipProof, OwnershipRequirement
from grader.core.urlpolicy import RepoUrl, UrlRefused, check_ref, check_repo_url
from grader.fetch.ownership import BareRepository, check_ownership

LFS_POINTER_PREFIX = b"version https://git-lfs.github.com/spec/"
# Linux's limits (NAME_MAX, PATH_MAX), used where the file system cannot be asked.
DEFAULT_NAME_MAX = 255
DEFAULT_PATH_MAX = 4096
LISTING_CHUNK = 64 * 1024
SIZE_SAMPLE_S = 0.1  # how often a running fetch's size is checked against the cap

# What git (through curl) says when the worker could not reach the git host: our side or the host's,
# never the learner's, since every host is on the allowlist.
_UNREACHABLE = (
    "could not resolve host",
    "could not resolve proxy",
    "resolving timed out",
    "couldn't connect to server",
    "failed to connect to",
    "connection refused",
    "connection timed out",
    "connection timeout",
    "network is unreachable",
    "no route to host",
    "empty reply from server",
    "connection reset by peer",
    "recv failure",
    "send failure",
    "ssl",
    "gnutls",
    "certificate",
    "the requested url returned error: 5",
    "http/2 stream",
)


_QUOTED = re.compile(r"'[^'\n]*'")


class FetchRefused(UrlRefused):
    """The repository (not only its URL) broke a rule of the fetch policy: a learner's fault."""


class FetchFailed(LearnerFault, RuntimeError):
    """The repository or the ref does not exist (or is not public): a learner's fault."""

    code = "repository-not-found"
    label = "fetch failed"


class FetchUnavailable(SystemFault):
    """The worker could not reach the git host (DNS failure, refused or timed-out connection, a 5xx):
    a fault of our side, retried, never the learner's."""

    code = "git-host-unreachable"
    label = "fetch failed (system fault)"


class FetchDiskFull(SystemFault):
    """The worker's own disk could not take the snapshot (no space, a quota, a read-only mount): a fault
    of our side, retried, never the learner's. A repository over the size cap is refused by the cap."""

    code = "workspace-full"
    label = "fetch failed (system fault)"


# What git says when the disk it writes to (ours, not the learner's) fails it.
_DISK_TROUBLE = ("no space left on device", "disk quota exceeded", "read-only file system")


class Snapshot(BaseModel):
    url: str
    commit: str
    ref: str | None
    path: Path
    files: int
    bytes: int
    lfs_pointers: list[str] = []
    tree: str | None = None  # the commit's tree hash (the duplicate check compares it)
    ownership: OwnershipProof | None = None  # what grader.fetch.ownership found, when the spec asks


def _git_environment(home: Path, schemes: list[str]) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "GIT_ALLOW_PROTOCOL": ":".join(schemes),
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_ASKPASS": "/bin/false",
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_LFS_SKIP_SMUDGE": "1",
        "GIT_NO_REPLACE_OBJECTS": "1",
        "LC_ALL": "C",
    }


GIT_CONFIG = [
    "core.hooksPath=/dev/null",
    "core.symlinks=false",
    "core.fsmonitor=false",
    "protocol.file.allow=never",
    "protocol.ext.allow=never",
    "http.followRedirects=false",
    "http.lowSpeedLimit=1024",
    "http.lowSpeedTime=15",
    "submodule.recurse=false",
    "fetch.recurseSubmodules=false",
    "filter.lfs.smudge=",
    "filter.lfs.process=",
    "filter.lfs.required=false",
    "transfer.fsckObjects=true",
]


def _dir_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def _explain(error: str, url: RepoUrl) -> Exception:
    """Sort git's complaint into a learner's fault (no such repository or ref, a rule broken) or ours."""
    # Quoted parts are the URL (or a ref) git repeats back: never let the learner's own path ("openssl",
    # "not-found") decide whose fault it is.
    text = _QUOTED.sub("''", error.lower())
    if "redirect" in text or "returned error: 30" in text:
        return FetchRefused("redirect", f"{url.url} redirects elsewhere; submit the final URL")
    if "couldn't find remote ref" in text or "not our ref" in text or "unadvertised object" in text:
        return FetchFailed(f"the ref does not exist in {url.url}")
    if any(marker in text for marker in _DISK_TROUBLE):
        return FetchDiskFull(f"the worker's disk could not take the snapshot of {url.url}: {error.strip()[-300:]}")
    if any(marker in text for marker in _UNREACHABLE):
        detail = error.strip().splitlines()[-1][-300:] if error.strip() else "no answer"
        return FetchUnavailable(f"could not reach the git host {url.host_port}: {detail}")
    if "low speed" in text or "timed out" in text or "operation too slow" in text:
        return FetchRefused("stalled", f"{url.url} stopped sending data")
    if "not found" in text or ("repository" in text and "not" in text):
        return FetchFailed(f"no repository at {url.url}")
    return FetchFailed(f"git could not fetch {url.url}: {error.strip()[-500:]}")


@contextlib.contextmanager
def _exit_waiter(popen: subprocess.Popen[bytes]) -> Iterator[Callable[[float], bool]]:
    """A wait for `popen`'s exit, at most `timeout` seconds per call, that returns the moment the
    process exits: a pidfd (Linux 5.3+) in select, else Popen.wait's own timed wait."""
    try:
        pidfd: int | None = os.pidfd_open(popen.pid)
    except (AttributeError, OSError):  # not Linux, or too old a kernel
        pidfd = None

    def exited(timeout: float) -> bool:
        if pidfd is None:
            try:
                popen.wait(timeout)
            except subprocess.TimeoutExpired:
                return False
            return True
        ready, _, _ = select.select([pidfd], [], [], timeout)
        if ready:
            popen.wait()
            return True
        return popen.poll() is not None

    try:
        yield exited
    finally:
        if pidfd is not None:
            os.close(pidfd)


def _fetch_commit(repo: git.Repo, url: RepoUrl, ref: str | None, settings: Settings, scratch: Path) -> str:
    git.Git.check_unsafe_protocols(url.url)
    args = [arg for item in GIT_CONFIG for arg in ("-c", item)]
    target = ref or "HEAD"
    process = repo.git.execute(
        ["git", *args, "fetch", "--depth=1", "--no-tags", "--no-recurse-submodules", "--", url.url, target],
        as_process=True,
        with_extended_output=True,
    )
    popen = process.proc
    if popen is None:
        raise FetchFailed("git did not start")
    deadline = time.monotonic() + settings.fetch_timeout_s
    cap = settings.max_repo_mb * 1024 * 1024 * 2
    refusal: Exception | None = None
    with _exit_waiter(popen) as exited:
        # The wait wakes the moment git exits; only the size cap and the deadline are sampled meanwhile.
        while not exited(SIZE_SAMPLE_S):
            if time.monotonic() > deadline:
                refusal = FetchRefused("stalled", f"fetching took longer than {settings.fetch_timeout_s:.0f} s")
            elif _dir_size(scratch) > cap:
                refusal = FetchRefused("too-large", f"the repository is over {settings.max_repo_mb} MB")
            if refusal:
                popen.kill()
                popen.wait()
                raise refusal
    stderr = popen.stderr.read().decode("utf-8", "replace") if popen.stderr else ""
    if popen.returncode != 0:
        raise _explain(stderr, url)
    return _fetched_commit(repo, ref)


def _fetched_commit(repo: git.Repo, ref: str | None) -> str:
    """The commit FETCH_HEAD names (a tag is peeled to its commit).

    Raises FetchRefused (rule `not-a-commit`) when HEAD or the ref names a blob or a tree.
    """
    kind = _object_type(repo, "FETCH_HEAD^{}")
    if kind != "commit":
        what = f"the ref {ref!r}" if ref else "the repository's HEAD"
        raise FetchRefused("not-a-commit", f"{what} names a {kind or 'missing object'}, not a commit")
    return str(repo.git.rev_parse("--verify", "--end-of-options", "FETCH_HEAD^{commit}"))


def _object_type(repo: git.Repo, name: str) -> str:
    try:
        return str(repo.git.cat_file("-t", name)).strip()
    except GitCommandError:
        return ""


@functools.lru_cache(maxsize=64)
def _name_limits(root: Path) -> tuple[int, int]:
    """NAME_MAX and PATH_MAX of the file system `root` will be on (asked once per snapshot folder)."""
    where = _existing_parent(root)
    try:
        return os.pathconf(where, "PC_NAME_MAX"), os.pathconf(where, "PC_PATH_MAX")
    except (OSError, ValueError):
        return DEFAULT_NAME_MAX, DEFAULT_PATH_MAX


def _shown(path: str, limit: int = 80) -> str:
    return repr(path) if len(path) <= limit else repr(path[:limit]) + "…"


def _safe_relative(path: str, root: Path | None = None) -> PurePosixPath:
    """`path` as a relative path the snapshot can hold under `root`.

    Raises FetchRefused: rule `path` for absolute paths, empty, `.`, `..` or `.git` components; rule
    `path-too-long` for a component or a whole path longer than the file system allows (checked
    against `root`'s file system, so the write can never fail with ENAMETOOLONG).
    """
    pure = PurePosixPath(path)
    if pure.is_absolute() or any(part in ("", ".", "..", ".git") for part in pure.parts):
        raise FetchRefused("path", f"the tree holds a path the snapshot cannot hold safely: {path!r}")
    if root is not None:
        name_max, path_max = _name_limits(root)
        longest = max(len(os.fsencode(part)) for part in pure.parts)
        if longest > name_max:
            raise FetchRefused(
                "path-too-long", f"a file or folder name in {_shown(path)} is {longest} bytes; the limit is {name_max}"
            )
        # The terminating NUL counts against PATH_MAX.
        if len(os.fsencode(str(root / pure))) >= path_max:
            raise FetchRefused("path-too-long", f"the path {_shown(path)} is longer than {path_max - 1} bytes")
    return pure


def _existing_parent(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _tree_records(repo: git.Repo, commit: str) -> Generator[str, None, None]:
    """The commit's `ls-tree -r -l -z` records, read as they come: a tree of a million paths is never
    held in memory, and stopping early (at a cap) ends git."""
    command = ["git", "ls-tree", "-r", "-l", "-z", "--full-tree", "--end-of-options", commit]
    env = {**repo.git.environment(), "GIT_DIR": str(repo.git_dir)}
    process = subprocess.Popen(  # unbuffered: each read returns what git has written so far
        command, cwd=repo.git_dir, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, bufsize=0
    )
    assert process.stdout is not None
    try:
        pending = b""
        while chunk := process.stdout.read(LISTING_CHUNK):
            pending += chunk
            *records, pending = pending.split(b"\0")
            for record in records:
                yield os.fsdecode(record)
    finally:
        process.kill()
        process.wait()
        process.stdout.close()
    if process.returncode not in (0, -9):
        raise FetchRefused("tree", "git could not list the commit's tree")


def _check_tree(
    repo: git.Repo, commit: str, settings: Settings, dest: Path | None = None
) -> list[tuple[str, str, int, str]]:
    """List (mode, sha, size, path) of the commit's blobs, refusing what the policy forbids.

    Raises FetchRefused naming the rule broken (submodule, symlink, tree, path, path-too-long,
    too-many-files, too-large), as soon as the listing shows it.
    """
    entries: list[tuple[str, str, int, str]] = []
    total = 0
    # closing(): a refusal mid-listing ends git at once rather than when the traceback is dropped.
    with contextlib.closing(_tree_records(repo, commit)) as records:
        for record in records:
            if not record:
                continue
            entry = _tree_entry(record, dest)
            total += entry[2]
            entries.append(entry)
            if len(entries) > settings.max_repo_files:
                raise FetchRefused("too-many-files", f"more than {settings.max_repo_files} files")
            if total > settings.max_repo_mb * 1024 * 1024:
                raise FetchRefused("too-large", f"the files add up to more than {settings.max_repo_mb} MB")
    return entries


def _tree_entry(record: str, dest: Path | None) -> tuple[str, str, int, str]:
    """One listing record as (mode, sha, size, path). Raises FetchRefused for what the policy forbids."""
    meta, _, path = record.partition("\t")
    mode, kind, sha, size = meta.split()
    if mode == "160000" or path == ".gitmodules":
        raise FetchRefused("submodule", f"submodules are not allowed ({path})")
    if mode == "120000":
        raise FetchRefused("symlink", f"symbolic links are not allowed in a submission ({path})")
    if kind != "blob":
        raise FetchRefused("tree", f"unexpected {kind} entry {path}")
    _safe_relative(path, dest)
    return mode, sha, int(size), path


def _write_snapshot(repo: git.Repo, entries: list[tuple[str, str, int, str]], dest: Path) -> list[str]:
    lfs: list[str] = []
    for mode, sha, _, path in entries:
        target = dest / _safe_relative(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        data = repo.odb.stream(bytes.fromhex(sha)).read()
        if data.startswith(LFS_POINTER_PREFIX):
            lfs.append(path)
        # O_EXCL + O_NOFOLLOW: never write through anything that already exists.
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o755 if mode == "100755" else 0o644)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
    for directory in [dest, *(p for p in dest.rglob("*") if p.is_dir())]:
        directory.chmod(stat.S_IRWXU | stat.S_IRGRP | stat.S_IXGRP | stat.S_IROTH | stat.S_IXOTH)
    return lfs


def fetch_snapshot(
    url: str, ref: str | None, dest: Path, settings: Settings, ownership: OwnershipRequirement | None = None
) -> Snapshot:
    """Fetch one commit of `url` (at `ref`, default HEAD) into `dest`, which must not exist yet; with
    `ownership`, check the commit's proof of ownership on the bare snapshot first (grader.fetch.ownership).

    Raises UrlRefused / FetchRefused (a rule broken), FetchFailed (no such repository or ref) and
    OwnershipRefused, all learner faults; FetchUnavailable (the git host could not be reached), a system fault.
    """
    checked = check_repo_url(url, settings.allowed_hosts, settings.allowed_schemes)
    if ref is not None:
        check_ref(ref)
    # The bare clone's scratch sits beside `dest`, in the caller's workspace (a worker's is named for its
    # process, so the janitor removes both if the worker dies mid-fetch) and on the workspace disk.
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".fetch-", dir=dest.parent) as tmp:
        scratch = Path(tmp)
        home = scratch / "home"
        home.mkdir()
        repo = git.Repo.init(scratch / "repo.git", bare=True)
        with repo.git.custom_environment(**_git_environment(home, settings.allowed_schemes)):
            repo.git.update_environment(**_git_environment(home, settings.allowed_schemes))
            try:
                commit = _fetch_commit(repo, checked, ref, settings, scratch)
            except GitCommandError as exc:
                raise _explain(str(exc), checked) from exc
            bare = BareRepository(Path(repo.git_dir), _git_environment(home, settings.allowed_schemes), GIT_CONFIG, scratch)
            tree = bare.tree_of(commit)
            proof = check_ownership(bare, commit, ownership) if ownership is not None else None
            entries = _check_tree(repo, commit, settings, dest)
            dest.mkdir(parents=True)
            try:
                lfs = _write_snapshot(repo, entries, dest)
            except BaseException:
                shutil.rmtree(dest, ignore_errors=True)
                raise
            repo.close()
    return Snapshot(
        url=url,
        commit=commit,
        ref=ref,
        path=dest,
        files=len(entries),
        bytes=sum(e[2] for e in entries),
        lfs_pointers=lfs,
        tree=tree,
        ownership=proof,
    )
