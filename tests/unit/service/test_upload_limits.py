"""Uploads: archive limits applied while decompressing (a bomb costs a bounded read, whatever it would
expand to), every compression the API takes, and the upload's synchronous work (unpacking, validating,
writing the store) off the event loop."""

from __future__ import annotations

import asyncio
import bz2
import gzip
import io
import lzma
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest

from grader.http.api import assignments
from grader.store.archive import MAX_FILES, MAX_MEMBERS, ArchiveError, unpack_archive
from tests.unit.service.test_api import LEDGER, Api, api, folder_files

__all__ = ["api"]
MiB = 1024 * 1024


class _Zeros(io.RawIOBase):
    def __init__(self, size: int) -> None:
        self.left = size

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        n = min(len(buffer), self.left)
        buffer[:n] = bytes(n)
        self.left -= n
        return n


def _tar(members: list[tarfile.TarInfo], sizes: dict[str, int], mode: str = "w:gz") -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode=mode) as tar:  # type: ignore[call-overload]
        for info in members:
            size = sizes.get(info.name, 0)
            info.size = size
            tar.addfile(info, io.BufferedReader(_Zeros(size), MiB) if info.isfile() else None)
    return out.getvalue()


def _file(name: str) -> tarfile.TarInfo:
    return tarfile.TarInfo(name)


def _folder(name: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE
    return info


@pytest.mark.parametrize("compress", [gzip.compress, bz2.compress, lzma.compress], ids=["gzip", "bzip2", "xz"])
def test_a_bomb_is_refused_by_its_size_in_every_compression(tmp_path: Path, compress: Callable[[bytes], bytes]) -> None:
    bomb = compress(_tar([_file("a.yaml")], {"a.yaml": 64 * MiB}, "w"))
    assert len(bomb) < MiB
    with pytest.raises(ArchiveError, match="unpacks to more than 50 MiB"):
        unpack_archive(bomb, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_too_many_files_or_entries_are_refused_before_anything_is_written(tmp_path: Path) -> None:
    with pytest.raises(ArchiveError, match=f"more than {MAX_FILES} files"):
        unpack_archive(_tar([_file(f"f{i}") for i in range(MAX_FILES + 1)], {}, "w"), tmp_path)
    with pytest.raises(ArchiveError, match=f"more than {MAX_MEMBERS} entries"):
        unpack_archive(_tar([_folder(f"d{i}") for i in range(MAX_MEMBERS + 1)], {}, "w"), tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_every_compression_unpacks_and_a_common_folder_is_stripped(tmp_path: Path) -> None:
    plain = io.BytesIO()
    with tarfile.open(fileobj=plain, mode="w") as tar:
        for name in ("py-x/assignment.yaml", "py-x/tests/test_a.py"):
            info = tarfile.TarInfo(name)
            info.size = 3
            tar.addfile(info, io.BytesIO(b"abc"))
    raw = plain.getvalue()
    for index, data in enumerate([raw, bz2.compress(raw), lzma.compress(raw)]):
        dest = tmp_path / str(index)
        dest.mkdir()
        unpack_archive(data, dest)
        assert sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*") if p.is_file()) == [
            "assignment.yaml",
            "tests/test_a.py",
        ]


def test_a_corrupt_stream_is_a_bad_archive(tmp_path: Path) -> None:
    good = _tar([_file("a.yaml")], {"a.yaml": 10})
    with pytest.raises(ArchiveError, match="not a readable tar archive"):
        unpack_archive(good[:20] + b"\xff" * 50 + good[70:], tmp_path)


def _on_the_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def test_an_uploads_synchronous_work_runs_off_the_event_loop(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[str, bool]] = []

    def spy(name: str, real: object) -> object:
        def wrapped(*args: object) -> object:
            seen.append((name, _on_the_loop()))
            return real(*args)  # type: ignore[operator]

        return wrapped

    for name in ("unpack_archive", "accept_upload", "_load", "_write_parts"):
        monkeypatch.setattr(assignments, name, spy(name, getattr(assignments, name)))
    key = api.tenant("acme")
    assert api.upload(key, folder_files(LEDGER)).status_code == 202
    parts = [("files", (n, d, "application/octet-stream")) for n, d in folder_files(LEDGER).items()]
    assert api.call("POST", "/api/v1/assignments/validate", key, files=parts).json()["valid"] is True
    assert {name for name, _ in seen} == {"unpack_archive", "accept_upload", "_load", "_write_parts"}
    assert not any(on_loop for _, on_loop in seen), seen
