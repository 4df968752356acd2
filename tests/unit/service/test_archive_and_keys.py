"""Assignment archives (untrusted uploads), API key format, and the rq job allowlist."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest
from redis import Redis
from rq.job import Job
from rq.serializers import JSONSerializer

from grader.core.spec import hash_assignment, load_assignment
from grader.jobs.queue import GRADE_JOB, AllowlistJob, JobNotAllowed
from grader.store import apikeys
from grader.store.archive import ArchiveError, materialize, pack_folder, sha256, unpack_archive

LEDGER = Path(__file__).resolve().parents[3] / "assignments" / "py-ledger"


def tarball(members: list[tuple[tarfile.TarInfo, bytes | None]], gz: bool = True) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz" if gz else "w") as tar:
        for info, data in members:
            if data is not None:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            else:
                tar.addfile(info)
    return buffer.getvalue()


def file(name: str, data: bytes = b"x") -> tuple[tarfile.TarInfo, bytes]:
    return tarfile.TarInfo(name), data


def test_packing_is_deterministic_and_round_trips(tmp_path: Path) -> None:
    first, second = pack_folder(LEDGER), pack_folder(LEDGER)
    assert first == second
    root = materialize(first, sha256(first), tmp_path)
    assert root == tmp_path / sha256(first) and materialize(first, sha256(first), tmp_path) == root
    loaded = load_assignment(root)
    assert loaded.spec_hash == hash_assignment(LEDGER, loaded.spec)


def test_a_wrapping_folder_is_stripped(tmp_path: Path) -> None:
    unpack_archive(tarball([file("py-ledger/assignment.yaml"), file("py-ledger/tests/a.py")]), tmp_path)
    assert (tmp_path / "assignment.yaml").is_file() and (tmp_path / "tests" / "a.py").is_file()


@pytest.mark.parametrize("name", ["../escape.txt", "/etc/passwd", "a/../../b", "c:/x", "a\\..\\..\\b"])
def test_paths_outside_the_folder_are_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(ArchiveError, match="unsafe path"):
        unpack_archive(tarball([file("ok.txt"), file(name)]), tmp_path / "dest")
    assert not (tmp_path / "escape.txt").exists()


def test_links_and_devices_are_not_extracted(tmp_path: Path) -> None:
    link = tarfile.TarInfo("link")
    link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
    hard = tarfile.TarInfo("hard")
    hard.type, hard.linkname = tarfile.LNKTYPE, "/etc/shadow"
    device = tarfile.TarInfo("dev")
    device.type = tarfile.CHRTYPE
    unpack_archive(tarball([file("a.txt"), (link, None), (hard, None), (device, None)]), tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt"]


def test_garbage_and_empty_archives_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ArchiveError, match="not a readable tar"):
        unpack_archive(b"definitely not a tarball", tmp_path / "a")
    with pytest.raises(ArchiveError, match="no files"):
        (tmp_path / "b").mkdir()
        unpack_archive(tarball([]), tmp_path / "b")


def test_oversized_archives_are_refused(tmp_path: Path) -> None:
    from grader.store import archive

    big = tarfile.TarInfo("big.bin")
    big.size = archive.MAX_UNPACKED_BYTES + 1
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        tar.addfile(big, io.BytesIO(b"\0" * big.size))
    with pytest.raises(ArchiveError, match="MiB"):
        unpack_archive(buffer.getvalue(), tmp_path)


def test_api_key_format() -> None:
    raw, prefix, stored = apikeys.new_key()
    parsed = apikeys.parse_key(raw)
    assert parsed is not None and parsed.prefix == prefix
    assert apikeys.secret_matches(parsed.secret, stored) and parsed.secret not in stored
    assert not apikeys.secret_matches(parsed.secret + "x", stored)
    assert apikeys.parse_key("gk__x") is None and apikeys.parse_key("sk_a_b") is None
    assert raw != apikeys.new_key()[0]


def make_job(func_name: str, args: list[object], kwargs: dict[str, object] | None = None) -> Job:
    # A Redis client never used here (no command is sent): the job is only built in memory.
    job = AllowlistJob(connection=Redis(port=1), serializer=JSONSerializer)
    job._func_name = func_name
    job._args = tuple(args)
    job._kwargs = kwargs or {}
    return job


def test_only_allowlisted_functions_with_one_id_resolve() -> None:
    assert make_job(GRADE_JOB, ["abc"]).func.__name__ == "grade_submission"
    with pytest.raises(JobNotAllowed, match="allowlist"):
        _ = make_job("os.system", ["rm -rf /"]).func
    with pytest.raises(JobNotAllowed, match="one id"):
        _ = make_job(GRADE_JOB, ["a", "b"]).func
    with pytest.raises(JobNotAllowed, match="one id"):
        _ = make_job(GRADE_JOB, [{"x": 1}]).func
    with pytest.raises(JobNotAllowed, match="one id"):
        _ = make_job(GRADE_JOB, ["a"], {"evil": True}).func
