"""A solution folder on this machine as a snapshot, for `grader assignment check` (no git server)."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

from grader.fetch.repository import Snapshot


def local_snapshot(folder: Path, dest: Path) -> Snapshot:
    """A solution folder as a snapshot: regular files copied (no links, no caches), a commit-like digest."""
    digest = hashlib.sha256()
    count = size = 0
    for path in sorted(folder.rglob("*")):
        if path.is_symlink() or not path.is_file() or "__pycache__" in path.parts:
            continue
        rel = path.relative_to(folder)
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
        data = path.read_bytes()
        digest.update(rel.as_posix().encode() + b"\0" + hashlib.sha256(data).digest())
        count, size = count + 1, size + len(data)
    for path in [dest, *dest.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    return Snapshot(url=folder.resolve().as_uri(), commit=digest.hexdigest()[:40], ref=None, path=dest, files=count,
                    bytes=size)
