"""Backup and restore of the service's state: the store (every table: tenants, submissions, grades,
credentials, status lists, deliveries, LTI registrations...) and the issuer keystores, as one archive.

The archive is a gzipped tar file:

    manifest.json      format, when, the source's dialect, its schema revision, each table's row count,
                       the SHA-256 of every other member
    store.sqlite3      (SQLite) a snapshot taken with SQLite's online backup API: consistent while the
                       API and the workers keep writing (WAL readers do not block writers)
    tables/<t>.jsonl   (PostgreSQL) each table's rows, read in one REPEATABLE READ READ ONLY transaction
                       (one consistent snapshot, the service running); a header line then one row a line
    keys/...           the keystore tree (GRADER_KEYS_DIR): private keys encrypted as they are at rest,
                       their public metadata; never the passphrase, which the operator keeps apart

Restore goes into a fresh store only (no tenant in it) and a keys folder with no keystore of the same
name, so it never mixes two states. A SQLite snapshot restored into SQLite is copied back with the
backup API; every other pairing (PostgreSQL's tables, or a SQLite snapshot into PostgreSQL) is a
logical import: the target is migrated to the archive's revision, the rows inserted in foreign-key
order, then migrated to this version's head. Row counts are compared with the manifest afterwards.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import shutil
import sqlite3
import tarfile
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any

from sqlalchemy import Connection, Engine, MetaData, Table, func, inspect, select, text
from sqlalchemy.types import JSON, DateTime, Integer, LargeBinary, TypeEngine

from grader.config import Settings
from grader.store.db import make_engine, normalize_url, upgrade

FORMAT = "grader-backup/1"
MANIFEST = "manifest.json"
SNAPSHOT = "store.sqlite3"
TABLES_DIR = "tables"
KEYS_DIR = "keys"
VERSION_TABLE = "alembic_version"
_SKIPPED_KEY_FILES = {".lock"}  # the keystore's advisory lock, meaningless elsewhere
_BATCH = 500


class BackupError(Exception):
    """A backup or restore that cannot be done as asked: the message says what and why."""


@dataclass
class BackupReport:
    path: Path
    dialect: str
    revision: str
    tables: dict[str, int]
    members: list[str]  # the archive's files besides the manifest (keys/... among them)

    @property
    def key_files(self) -> list[str]:
        return [m for m in self.members if m.startswith(f"{KEYS_DIR}/")]


@dataclass
class RestoreReport:
    dialect: str
    revision: str
    method: str  # "sqlite-backup-api" | "logical"
    tables: dict[str, int]
    key_files: list[str]
    keystores: list[Path] = field(default_factory=list)


# Reading the source ------------------------------------------------------------------------------


def _sqlite_path(url: str) -> Path | None:
    if not url.startswith("sqlite"):
        return None
    path = url.split("///", 1)[-1]
    if not path or path == ":memory:":
        raise BackupError("an in-memory SQLite database cannot be backed up or restored")
    return Path(path)


def _revision(connection: Connection) -> str:
    if VERSION_TABLE not in inspect(connection).get_table_names():
        raise BackupError("the store has no schema yet (run `grader db upgrade`)")
    found = connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar()
    if not found:
        raise BackupError("the store's schema revision is unknown (alembic_version is empty)")
    return str(found)


def _data_tables(connection: Connection) -> list[Table]:
    metadata = MetaData()
    metadata.reflect(connection)
    return [t for t in metadata.sorted_tables if t.name != VERSION_TABLE]


def _counts(connection: Connection, tables: list[Table]) -> dict[str, int]:
    return {t.name: int(connection.execute(select(func.count()).select_from(t)).scalar() or 0) for t in tables}


def _codec(column_type: TypeEngine[Any]) -> str:
    if isinstance(column_type, LargeBinary):
        return "base64"
    if isinstance(column_type, DateTime):
        return "datetime"
    if isinstance(column_type, JSON):
        return "json"
    return "plain"


def _encode(codec: str, value: Any) -> Any:
    if value is None:
        return None
    if codec == "base64":
        return base64.b64encode(bytes(value)).decode("ascii")
    if codec == "datetime":
        # SQLite keeps UTC wall time without its zone (grader.store.models.UTCDateTime): put it back.
        moment = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        return moment.astimezone(UTC).isoformat()
    return value


def _decode(codec: str, value: Any) -> Any:
    if value is None:
        return None
    if codec == "base64":
        return base64.b64decode(value)
    if codec == "datetime":
        return datetime.fromisoformat(value).astimezone(UTC)
    return value


def _table_lines(connection: Connection, table: Table) -> Iterator[str]:
    columns = [c.name for c in table.columns]
    codecs = [_codec(c.type) for c in table.columns]
    yield json.dumps({"table": table.name, "columns": columns, "codecs": codecs})
    query = select(table).order_by(*table.primary_key.columns) if table.primary_key.columns else select(table)
    for row in connection.execution_options(yield_per=_BATCH).execute(query):
        yield json.dumps([_encode(codec, value) for codec, value in zip(codecs, row, strict=True)])


# The archive ----------------------------------------------------------------------------------


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _key_files(keys_dir: Path) -> list[Path]:
    if not keys_dir.is_dir():
        return []
    return sorted(
        p for p in keys_dir.rglob("*") if p.is_file() and not p.is_symlink() and p.name not in _SKIPPED_KEY_FILES
    )


def _sqlite_snapshot(source: Path, target: Path) -> None:
    """One step of the online backup API: a consistent copy while other connections write."""
    if not source.is_file():
        raise BackupError(f"no SQLite database at {source}")
    src = sqlite3.connect(source, timeout=30)  # read-write open: a WAL database may need its -shm made
    dst = sqlite3.connect(target)
    try:
        src.backup(dst)
        dst.execute("PRAGMA journal_mode=DELETE")  # one self-contained file in the archive
    finally:
        dst.close()
        src.close()


def backup(settings: Settings, target: Path) -> BackupReport:
    """Write the archive of this installation's store and keystores to `target` (mode 0600, written
    aside and renamed into place). Raises BackupError (no schema, target exists) and the database's
    own errors."""
    target = target.expanduser()
    if target.exists():
        raise BackupError(f"{target} exists already; a backup never overwrites a file")
    url = normalize_url(settings.resolved_database_url())
    engine = make_engine(url)
    keys_dir = settings.resolved_keys_dir.expanduser()
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".grader-backup-", dir=target.parent) as work_dir:
        work = Path(work_dir)
        members: dict[str, Path] = {}
        sqlite_path = _sqlite_path(url)
        try:
            if sqlite_path is not None:
                _sqlite_snapshot(sqlite_path, work / SNAPSHOT)
                members[SNAPSHOT] = work / SNAPSHOT
                snapshot = make_engine(f"sqlite:///{work / SNAPSHOT}")
                try:
                    with snapshot.connect() as connection:
                        revision = _revision(connection)
                        counts = _counts(connection, _data_tables(connection))
                finally:
                    snapshot.dispose()
            else:
                revision, counts = _export_tables(engine, work, members)
        finally:
            engine.dispose()
        # The keys after the store: a key made in between is then in the archive too (the store's mirror
        # of public keys is brought up to date at the next issuance), never the other way round. Copied
        # first, so that what is summed is what is archived, whatever a rotation does meanwhile.
        for path in _key_files(keys_dir):
            name = f"{KEYS_DIR}/{path.relative_to(keys_dir).as_posix()}"
            (work / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, work / name)
            members[name] = work / name
        manifest = {
            "format": FORMAT,
            "created_at": datetime.now(UTC).isoformat(),
            "dialect": engine.dialect.name,
            "revision": revision,
            "tables": counts,
            "members": {name: _sha256(path) for name, path in members.items()},
        }
        partial = work / "archive.tar.gz"
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as raw, tarfile.open(fileobj=raw, mode="w:gz") as tar:
            _add_bytes(tar, MANIFEST, json.dumps(manifest, indent=2).encode())
            for name, path in members.items():
                tar.add(path, arcname=name, recursive=False)
        os.replace(partial, target)
    return BackupReport(target, engine.dialect.name, revision, counts, sorted(members))


def _export_tables(engine: Engine, work: Path, members: dict[str, Path]) -> tuple[str, dict[str, int]]:
    (work / TABLES_DIR).mkdir()
    with engine.connect().execution_options(isolation_level="REPEATABLE READ") as connection, connection.begin():
        connection.execute(text("SET TRANSACTION READ ONLY"))  # PostgreSQL: SQLite takes the snapshot path
        revision = _revision(connection)
        tables = _data_tables(connection)
        counts: dict[str, int] = {}
        for table in tables:
            path = work / TABLES_DIR / f"{table.name}.jsonl"
            lines = 0
            with path.open("w", encoding="utf-8") as out:
                for line in _table_lines(connection, table):
                    out.write(line + "\n")
                    lines += 1
            counts[table.name] = lines - 1
            members[f"{TABLES_DIR}/{table.name}.jsonl"] = path
    return revision, counts


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o600
    info.mtime = int(datetime.now(UTC).timestamp())
    tar.addfile(info, io.BytesIO(data))


# Restoring ------------------------------------------------------------------------------------


def _safe_name(name: str) -> str:
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts or not path.parts:
        raise BackupError(f"the archive holds {name!r}, a path outside it: not a grader backup")
    return path.as_posix()


@contextmanager
def _unpacked(source: Path) -> Iterator[tuple[dict[str, Any], Path]]:
    """The archive's manifest and a temporary folder with its members, each checked against the
    manifest's SHA-256. Raises BackupError for anything that is not an intact grader backup."""
    if not source.is_file():
        raise BackupError(f"no backup at {source}")
    with tempfile.TemporaryDirectory(prefix=".grader-restore-") as work_dir:
        work = Path(work_dir)
        try:
            with tarfile.open(source, mode="r:gz") as tar:
                for member in tar.getmembers():
                    name = _safe_name(member.name)
                    if not member.isfile():
                        raise BackupError(f"the archive holds {name!r}, which is not a plain file")
                    tar.extract(member, work, filter="data")
        except (tarfile.TarError, OSError, EOFError) as exc:
            raise BackupError(f"{source} is not a readable backup archive: {exc}") from exc
        try:
            manifest = json.loads((work / MANIFEST).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise BackupError(f"{source} has no readable {MANIFEST}: not a grader backup") from exc
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
            raise BackupError(f"{source} is not a {FORMAT} archive (format {manifest.get('format')!r})")
        members: dict[str, str] = manifest.get("members", {})
        present = {p.relative_to(work).as_posix() for p in work.rglob("*") if p.is_file()} - {MANIFEST}
        if present != set(members):
            raise BackupError(f"{source}: members differ from its manifest ({sorted(present ^ set(members))})")
        for name, digest in members.items():
            if _sha256(work / name) != digest:
                raise BackupError(f"{source}: {name} does not match its checksum: the archive is damaged")
        yield manifest, work


def _require_fresh_store(url: str) -> None:
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            if (
                "tenants" in inspect(connection).get_table_names()
                and connection.execute(text("SELECT count(*) FROM tenants")).scalar()
            ):
                raise BackupError(
                    "the target store already holds tenants: restore only into a fresh database "
                    "(a new GRADER_DATABASE_URL, or an empty GRADER_HOME for SQLite)"
                )
    finally:
        engine.dispose()


def _require_free_keys(work: Path, keys_dir: Path) -> list[tuple[Path, Path]]:
    moves: list[tuple[Path, Path]] = []
    for path in sorted((work / KEYS_DIR).rglob("*")) if (work / KEYS_DIR).is_dir() else []:
        if not path.is_file():
            continue
        destination = keys_dir / path.relative_to(work / KEYS_DIR)
        if destination.exists() and destination.read_bytes() != path.read_bytes():
            raise BackupError(f"{destination} exists and differs from the backup's: restore into an empty keys folder")
        moves.append((path, destination))
    return moves


def restore(settings: Settings, source: Path) -> RestoreReport:
    """Restore the archive at `source` into this installation's store and keys folder, both fresh.
    Raises BackupError (not a backup, damaged, a newer schema, a store or keys folder in use)."""
    url = normalize_url(settings.resolved_database_url())
    keys_dir = settings.resolved_keys_dir.expanduser()
    with _unpacked(source.expanduser()) as (manifest, work):
        revision = str(manifest["revision"])
        _require_fresh_store(url)
        moves = _require_free_keys(work, keys_dir)
        target_sqlite = _sqlite_path(url)
        has_snapshot = (work / SNAPSHOT).is_file()
        if has_snapshot and target_sqlite is not None:
            method = "sqlite-backup-api"
            target_sqlite.parent.mkdir(parents=True, exist_ok=True)
            _sqlite_snapshot(work / SNAPSHOT, target_sqlite)
        else:
            method = "logical"
            upgrade(url, revision)
            if has_snapshot:
                snapshot = make_engine(f"sqlite:///{work / SNAPSHOT}")
                try:
                    with snapshot.connect() as connection:
                        tables = _data_tables(connection)
                        _import(url, ({t.name: _table_lines(connection, t) for t in tables}, [t.name for t in tables]))
                finally:
                    snapshot.dispose()
            else:
                _import(url, _jsonl_sources(work, manifest))
        upgrade(url)  # an older backup's schema brought to this version's
        restored = _restored_counts(url, manifest)
        keystores = _install_keys(moves, keys_dir)
    return RestoreReport(
        dialect=str(manifest.get("dialect")),
        revision=revision,
        method=method,
        tables=restored,
        key_files=[m[1].relative_to(keys_dir).as_posix() for m in moves],
        keystores=keystores,
    )


def _jsonl_sources(work: Path, manifest: dict[str, Any]) -> tuple[dict[str, Iterator[str]], list[str]]:
    names = list(manifest.get("tables", {}))
    return {n: _lines(work / TABLES_DIR / f"{n}.jsonl") for n in names}, names


def _lines(path: Path) -> Iterator[str]:
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            yield line.rstrip("\n")


def _import(url: str, sources: tuple[dict[str, Iterator[str]], list[str]]) -> None:
    """Insert each table's rows (header line, then rows) in the order given, which is foreign-key order."""
    lines_of, order = sources
    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            target = {t.name: t for t in _data_tables(connection)}
            for name in order:
                lines = lines_of[name]
                header = json.loads(next(lines))
                table = target.get(name)
                if table is None:
                    raise BackupError(f"the backup's table {name!r} is not in the schema at its revision")
                columns, codecs = header["columns"], header["codecs"]
                batch: list[dict[str, Any]] = []
                for line in lines:
                    values = json.loads(line)
                    batch.append({c: _decode(k, v) for c, k, v in zip(columns, codecs, values, strict=True)})
                    if len(batch) >= _BATCH:
                        connection.execute(table.insert(), batch)
                        batch = []
                if batch:
                    connection.execute(table.insert(), batch)
                _reset_sequence(connection, table)
    finally:
        engine.dispose()


def _reset_sequence(connection: Connection, table: Table) -> None:
    """PostgreSQL: integer keys inserted as they were leave the column's sequence behind; move it on."""
    if connection.dialect.name != "postgresql":
        return
    for column in table.primary_key.columns:
        if isinstance(column.type, Integer):
            sequence = connection.execute(
                text("SELECT pg_get_serial_sequence(:table, :column)"), {"table": table.name, "column": column.name}
            ).scalar()
            if sequence:
                connection.execute(
                    text(
                        f'SELECT setval(:sequence, coalesce((SELECT max("{column.name}") FROM "{table.name}"), 0) + 1, false)'
                    ),
                    {"sequence": sequence},
                )


def _restored_counts(url: str, manifest: dict[str, Any]) -> dict[str, int]:
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            present = {t.name: t for t in _data_tables(connection)}
            expected: dict[str, int] = manifest.get("tables", {})
            counts = _counts(connection, [present[n] for n in expected if n in present])
    finally:
        engine.dispose()
    wrong = {n: (c, counts.get(n)) for n, c in expected.items() if counts.get(n) != c}
    if wrong:
        raise BackupError(f"restored row counts differ from the backup's (expected, found): {wrong}")
    return counts


def _install_keys(moves: list[tuple[Path, Path]], keys_dir: Path) -> list[Path]:
    """Copy the keystore files into place, private as Keystore makes them (folders 0700, files 0600)."""
    for source, destination in moves:
        destination.parent.mkdir(parents=True, exist_ok=True)
        folder = destination.parent
        while folder == keys_dir or keys_dir in folder.parents:
            os.chmod(folder, 0o700)
            folder = folder.parent
        shutil.copyfile(source, destination)
        os.chmod(destination, 0o600)
    return sorted({d.parent for _, d in moves if d.name == "keystore.json"})
