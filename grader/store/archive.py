"""Assignment folders as gzip tarballs: packed for the store, unpacked (safely) by API and workers.

An uploaded tarball is untrusted: only regular files and folders are taken, paths must stay inside
the target, and sizes are capped, so no upload can write outside its folder or fill the disk.
"""

from __future__ import annotations

import bz2
import gzip
import hashlib
import io
import lzma
import os
import shutil
import tarfile
import tempfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import IO, Any, cast

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


# Decompressed bytes a tar may take beyond its files' contents (headers, long names, padding, end blocks):
# reading stops there, so a compressed bomb costs at most this much work however far it would expand.
_TAR_SLACK = 8 * 1024 * 1024
MAX_MEMBERS = 4 * MAX_FILES  # files, folders and every other kind of entry


class _Capped(io.RawIOBase):
    """A decompressing reader that gives up once more than `cap` bytes came out of it."""

    def __init__(self, inner: IO[bytes], cap: int) -> None:
        self.inner = inner
        self.cap = cap
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self.inner.read(len(buffer))
        self.count += len(data)
        if self.count > self.cap:
            raise ArchiveError(f"archive unpacks to more than {MAX_UNPACKED_BYTES // (1024 * 1024)} MiB")
        buffer[: len(data)] = data
        return len(data)


def _decompressed(data: bytes) -> IO[bytes]:
    raw = io.BytesIO(data)
    if data[:2] == b"\x1f\x8b":
        return cast(IO[bytes], gzip.GzipFile(fileobj=raw))
    if data[:3] == b"BZh":
        return bz2.BZ2File(raw)
    if data[:6] == b"\xfd7zXZ\x00":
        return lzma.LZMAFile(raw)
    return raw


@contextmanager
def _stream(data: bytes) -> Iterator[tarfile.TarFile]:
    """The archive read front to back, decompressed as it is read and capped (never seeking, so no
    member list is built by decompressing everything first)."""
    reader = io.BufferedReader(_Capped(_decompressed(data), MAX_UNPACKED_BYTES + _TAR_SLACK))
    with tarfile.open(fileobj=reader, mode="r|") as tar:
        yield tar


def _survey(data: bytes) -> list[PurePosixPath]:
    """The files' paths, refusing the archive at the first entry past a limit or with an unsafe path."""
    paths: list[PurePosixPath] = []
    entries = total = 0
    with _stream(data) as tar:
        for member in tar:
            entries += 1
            if entries > MAX_MEMBERS:
                raise ArchiveError(f"archive has more than {MAX_MEMBERS} entries")
            if not member.isfile():
                continue
            if len(paths) >= MAX_FILES:
                raise ArchiveError(f"archive has more than {MAX_FILES} files")
            total += member.size
            if total > MAX_UNPACKED_BYTES:
                raise ArchiveError(f"archive unpacks to more than {MAX_UNPACKED_BYTES // (1024 * 1024)} MiB")
            paths.append(safe_relative(member.name))
    return paths


def unpack_archive(data: bytes, dest: Path) -> None:
    """Unpack a tar (gzip, bzip2, xz or plain) of an assignment folder into `dest`, refusing anything
    unsafe. The archive is read twice, front to back: once to check every limit and path before
    anything is written, once to write; decompression stops at the size cap either way. Synchronous and
    CPU-bound: the API calls it off its event loop. Raises ArchiveError."""
    if len(data) > MAX_ARCHIVE_BYTES:
        raise ArchiveError(f"archive is larger than {MAX_ARCHIVE_BYTES // (1024 * 1024)} MiB")
    try:
        paths = _survey(data)
        strip = _strip_common_folder(paths)
        with _stream(data) as tar:
            files = (m for m in tar if m.isfile())
            for member, rel in zip(files, paths, strict=True):
                parts = rel.parts[strip:]
                if _SKIP_PARTS.intersection(parts):
                    continue
                handle = tar.extractfile(member)
                if handle is None:
                    continue
                write_file(dest, PurePosixPath(*parts), handle.read())
    except (tarfile.TarError, EOFError, OSError, zlib.error, lzma.LZMAError) as exc:
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
