"""Safe fetch of a learner's repository into an immutable snapshot of one commit.

git fetches into a bare repository with every dangerous feature off (no hooks, no submodules, no
LFS smudge, no redirects, no protocols but the allowed ones). Nothing from the repository touches the
host's file system until its tree has been checked: the snapshot is written by us, blob by blob, as
plain files, so symlinks, gitlinks and odd paths never reach the disk.
"""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
import time
from pathlib import Path, PurePosixPath

import git
from git.exc import GitCommandError
from pydantic import BaseModel

from grader.config import Settings
from grader.urlpolicy import RepoUrl, UrlRefused, check_ref, check_repo_url

LFS_POINTER_PREFIX = b"version https://git-lfs.github.com/spec/"


class FetchRefused(UrlRefused):
    """The repository (not only its URL) broke a rule of the fetch policy."""


class FetchFailed(RuntimeError):
    """The repository could not be fetched (unreachable, no such ref, stalled)."""


class Snapshot(BaseModel):
    url: str
    commit: str
    ref: str | None
    path: Path
    files: int
    bytes: int
    lfs_pointers: list[str] = []


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
    text = error.lower()
    if "redirect" in text or (" 30" in text and "http" in text):
        return FetchRefused("redirect", f"{url.url} redirects elsewhere; submit the final URL")
    if "couldn't find remote ref" in text or "not our ref" in text or "unadvertised object" in text:
        return FetchFailed(f"the ref does not exist in {url.url}")
    if "low speed" in text or "timed out" in text or "operation too slow" in text:
        return FetchRefused("stalled", f"{url.url} stopped sending data")
    if "not found" in text or ("repository" in text and "not" in text):
        return FetchFailed(f"no repository at {url.url}")
    return FetchFailed(f"git could not fetch {url.url}: {error.strip()[-500:]}")


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
    while popen.poll() is None:
        if time.monotonic() > deadline:
            refusal = FetchRefused("stalled", f"fetching took longer than {settings.fetch_timeout_s:.0f} s")
        elif _dir_size(scratch) > cap:
            refusal = FetchRefused("too-large", f"the repository is over {settings.max_repo_mb} MB")
        if refusal:
            popen.kill()
            popen.wait()
            raise refusal
        time.sleep(0.1)
    stderr = popen.stderr.read().decode("utf-8", "replace") if popen.stderr else ""
    if popen.returncode != 0:
        raise _explain(stderr, url)
    return str(repo.git.rev_parse("FETCH_HEAD^{commit}"))


def _safe_relative(path: str) -> PurePosixPath:
    pure = PurePosixPath(path)
    if pure.is_absolute() or any(part in ("", ".", "..", ".git") for part in pure.parts):
        raise FetchRefused("path", f"the tree holds a path the snapshot cannot hold safely: {path!r}")
    return pure


def _check_tree(repo: git.Repo, commit: str, settings: Settings) -> list[tuple[str, str, int, str]]:
    """List (mode, sha, size, path) of the commit's blobs, refusing what the policy forbids."""
    listing = repo.git.ls_tree("-r", "-l", "-z", "--full-tree", commit)
    entries: list[tuple[str, str, int, str]] = []
    total = 0
    for record in filter(None, listing.split("\0")):
        meta, _, path = record.partition("\t")
        mode, kind, sha, size = meta.split()
        if mode == "160000" or path == ".gitmodules":
            raise FetchRefused("submodule", f"submodules are not allowed ({path})")
        if mode == "120000":
            raise FetchRefused("symlink", f"symbolic links are not allowed in a submission ({path})")
        if kind != "blob":
            raise FetchRefused("tree", f"unexpected {kind} entry {path}")
        _safe_relative(path)
        total += int(size)
        entries.append((mode, sha, int(size), path))
        if len(entries) > settings.max_repo_files:
            raise FetchRefused("too-many-files", f"more than {settings.max_repo_files} files")
        if total > settings.max_repo_mb * 1024 * 1024:
            raise FetchRefused("too-large", f"the files add up to more than {settings.max_repo_mb} MB")
    return entries


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


def fetch_snapshot(url: str, ref: str | None, dest: Path, settings: Settings) -> Snapshot:
    """Fetch one commit of `url` (at `ref`, default HEAD) into `dest`, which must not exist yet."""
    checked = check_repo_url(url, settings.allowed_hosts, settings.allowed_schemes)
    if ref is not None:
        check_ref(ref)
    with tempfile.TemporaryDirectory(prefix="grader-fetch-") as tmp:
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
            entries = _check_tree(repo, commit, settings)
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
    )
