"""Assignment folders as gzip tarballs: packed for the store, unpacked (safely) by API and workers.

An uploaded tarball is untrusted: only regular files and folders are taken, paths must stay inside
the target, and sizes are capped, so no upload can write outside its folder or fill the disk.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import tarfile
import tempfile
from pathlib import Path, PurePosixPath

from grader.core.errors import AuthorFault

MAX_ARCHIVE_BYTES = 20 * 1024 * 1024
MAX_FILES = 2000
MAX_UNPACKED_BYTES = 50 * 1024 * 1024
_SKIP_PARTS = frozenset({"__pycache__", ".git", ".pytest_cache"})


class ArchiveError(AuthorFault, ValueError):
    """The upload is not an acceptable assignment archive."""

    code = "bad-archive"


def _members(root: Path) -> list[Path]:
    return sorted(
        p for p in root.rglob("*") if not _SKIP_PARTS.intersection(p.relative_to(root).parts) and not p.is_symlink()
    )


def pack_folder(root: Path) -> bytes:
    """A deterministic tar.gz of `root` (sorted, no owners, fixed times): same files, same bytes."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", compresslevel=6, format=tarfile.PAX_FORMAT) as tar:
        for path in _members(root):
            info = tar.gettarinfo(str(path), arcname=path.relative_to(root).as_posix())
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            info.mtime = 0
            info.mode = 0o755 if path.is_dir() else 0o644
            if path.is_file():
                with path.open("rb") as handle:
                    tar.addfile(info, handle)
            elif path.is_dir():
                tar.addfile(info)
    # gzip writes the time into its header too; zero it so equal folders give equal bytes.
    data = bytearray(buffer.getvalue())
    data[4:8] = b"\0\0\0\0"
    return bytes(data)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def safe_relative(name: str) -> PurePosixPath:
    path = PurePosixPath(name.replace("\\", "/"))
    parts = [p for p in path.parts if p not in ("", ".")]
    if not parts or path.is_absolute() or ".." in parts or any(":" in p or "\0" in p for p in parts):
        raise ArchiveError(f"unsafe path in upload: {name!r}")
    return PurePosixPath(*parts)


def _strip_common_folder(names: list[PurePosixPath]) -> int:
    """`tar czf x.tgz py-ledger/` wraps everything in one folder; accept that as well as a flat archive."""
    if names and all(len(n.parts) > 1 for n in names) and len({n.parts[0] for n in names}) == 1:
        return 1
    return 0


def unpack_archive(data: bytes, dest: Path) -> None:
    """Unpack a tar (gzip or plain) of an assignment folder into `dest`, refusing anything unsafe."""
    if len(data) > MAX_ARCHIVE_BYTES:
        raise ArchiveError(f"archive is larger than {MAX_ARCHIVE_BYTES // (1024 * 1024)} MiB")
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as tar:
            members = tar.getmembers()
            files = [m for m in members if m.isfile()]
            if len(files) > MAX_FILES:
                raise ArchiveError(f"archive has more than {MAX_FILES} files")
            if sum(m.size for m in files) > MAX_UNPACKED_BYTES:
                raise ArchiveError(f"archive unpacks to more than {MAX_UNPACKED_BYTES // (1024 * 1024)} MiB")
            paths = [safe_relative(m.name) for m in files]
            strip = _strip_common_folder(paths)
            for member, rel in zip(files, paths, strict=True):
                parts = rel.parts[strip:]
                if _SKIP_PARTS.intersection(parts):
                    continue
                handle = tar.extractfile(member)
                if handle is None:
                    continue
                write_file(dest, PurePosixPath(*parts), handle.read())
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise ArchiveError(f"not a readable tar archive: {exc}") from exc
    if not any(dest.iterdir()):
        raise ArchiveError("archive holds no files")


def write_file(dest: Path, rel: PurePosixPath, content: bytes) -> None:
    target = dest.joinpath(*rel.parts)
    if not target.resolve().is_relative_to(dest.resolve()):
        raise ArchiveError(f"unsafe path in upload: {rel}")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(content)


def materialize(data: bytes, digest: str, cache: Path) -> Path:
    """The archive unpacked under `cache/<digest>`, once per machine; concurrent callers are safe
    because the folder appears by an atomic rename."""
    target = cache / digest
    if target.is_dir():
        return target
    cache.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=".unpack-", dir=cache))
    try:
        unpack_archive(data, scratch)
        try:
            os.rename(scratch, target)
        except OSError:
            if not target.is_dir():  # lost the race to another process: theirs is identical
                raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return target
