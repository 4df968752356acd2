"""Backup and restore (grader.store.backup, `grader service backup|restore`): credentials issued by the
worker's own issue stage before a backup verify after a restore into a fresh store and keys folder, by
the API and offline with the restored status list and DID document; revoked ones still show revoked;
the restored status list keeps handing out fresh indices. On SQLite (the online backup API, a writer
busy meanwhile) and PostgreSQL (a logical export), each into SQLite and into PostgreSQL."""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import func, select, text

from credentials.verify import verify_credential
from grader.config import Settings
from grader.core.policy import Scope
from grader.core.spec import load_assignment
from grader.fetch.repository import Snapshot
from grader.http import create_app
from grader.issuing import keystores
from grader.issuing import tenant as issuing
from grader.jobs import grading
from grader.jobs.context import Context
from grader.jobs.queue import connect, make_queue
from grader.store import backup as store_backup
from grader.store import catalog, submissions, tenancy
from grader.store.archive import pack_folder, sha256
from grader.store.db import make_engine, session_factory, session_scope, upgrade
from grader.store.models import CredentialRecord, Submission, SubmissionEvent, Tenant
from tests.conftest import LEDGER_DIR
from tests.integration.test_service_stack import Services, postgres_service
from tests.unit.fakes import FakeFetcher, RecordedMetrics, fake_ports

pytestmark = pytest.mark.integration
__all__ = ["postgres_service"]

PASSPHRASE = "backup test passphrase"
PUBLIC_URL = "https://grader.example"
GRADER = [sys.executable, "-m", "grader"]


def settings_at(home: Path, database_url: str = "", passphrase: str = PASSPHRASE) -> Settings:
    return Settings(
        home=home,
        database_url=database_url,
        key_passphrase=SecretStr(passphrase),
        redis_url="redis://127.0.0.1:1/0",  # nothing listens: no webhook is registered, nothing enqueued
        public_url=PUBLIC_URL,
    )


def cli(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("GRADER_")},
        "GRADER_HOME": str(settings.home),
        "GRADER_DATABASE_URL": settings.database_url,
        "GRADER_KEY_PASSPHRASE": settings.key_passphrase.get_secret_value() if settings.key_passphrase else "",
        "GRADER_PUBLIC_URL": PUBLIC_URL,
    }
    return subprocess.run([*GRADER, *args], env=env, capture_output=True, text=True, timeout=120)


class OwnCommits(FakeFetcher):
    """Each learner's repository at a commit of its own (one commit shared by two learners would be
    held for review by the authenticity checks, and issue nothing)."""

    def __call__(self, url: str, ref: str | None, dest: Path, settings: Settings, ownership: Any = None) -> Snapshot:
        snapshot = super().__call__(url, ref, dest, settings, ownership)
        return snapshot.model_copy(update={"commit": hashlib.sha1(url.encode()).hexdigest()})


class Installation:
    """One installation's store and keys, with the worker's grading job (fake sandbox) issuing for real."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        upgrade(settings.resolved_database_url())
        self.factory = session_factory(make_engine(settings.resolved_database_url()))
        redis = connect(settings.redis_url)
        self.ctx = Context(
            settings=settings,
            factory=self.factory,
            redis=redis,
            queue=make_queue(settings, redis),
            metrics=RecordedMetrics(),
            ports=fake_ports(fetcher=OwnCommits()),
        )

    def new_tenant(self, slug: str) -> str:
        archive = pack_folder(LEDGER_DIR)
        with session_scope(self.factory) as session:
            tenant = tenancy.create_tenant(session, slug, f"{slug} academy")
            issuing.init_tenant_keys(session, self.settings, tenant)
            uploaded = catalog.publish_version(
                session, tenant.id, load_assignment(LEDGER_DIR), "", archive, sha256(archive)
            )
            catalog.settle_check(uploaded.version, None, [])
            return tenancy.create_api_key(session, tenant.id, [Scope.ADMIN])[1]

    def issue(self, slug: str, learner: str) -> dict[str, Any]:
        """Grade a passing submission through the worker's job: its issue stage signs the credential."""
        with session_scope(self.factory) as session:
            tenant = session.scalars(select(Tenant).where(Tenant.slug == slug)).one()
            assignment = catalog.assignment_by_slug(session, tenant.id, "py-ledger")
            assert assignment is not None
            version = catalog.pick_version(session, assignment, None)
            assert version is not None
            row = Submission(
                tenant_id=tenant.id,
                assignment_id=version.assignment_id,
                assignment_version_id=version.id,
                learner=learner,
                repo_url=f"https://git.example/{learner.split('@')[0]}/ledger.git",
                attempt=1,
                request_hash=uuid.uuid4().hex,
            )
            inserted = submissions.insert_submission(session, row)
            assert inserted is not None
            submission_id = inserted.id
        assert grading.run_grading(self.ctx, submission_id) == "graded"
        with session_scope(self.factory) as session:
            credential = session.scalars(
                select(CredentialRecord).where(CredentialRecord.submission_id == submission_id)
            ).one()
            return {
                "row": credential.id,
                "index": credential.status_index,
                "document": credential.document,
                "issued_at": credential.issued_at,
            }

    def api(self, key: str) -> TestClient:
        return TestClient(create_app(self.settings), headers={"Authorization": f"Bearer {key}"})


def checked_by_api(client: TestClient, row_id: str) -> dict[str, Any]:
    answer = client.get(f"/api/v1/credentials/{row_id}/verify")
    assert answer.status_code == 200, answer.text
    report: dict[str, Any] = answer.json()
    return report


def checked_offline(client: TestClient, slug: str, document: dict[str, Any]) -> Any:
    """What an employer's verifier does: the holder's copy, with the list and DID document served now."""
    list_url = document["credentialStatus"]["statusListCredential"].removeprefix(PUBLIC_URL)
    status_list = client.get(list_url).json()
    did = client.get(f"/tenants/{slug}/did.json").json()
    return verify_credential(document, status_list=status_list, did_documents=[did], require_evidence=True)


@pytest.fixture(autouse=True)
def fresh_keystore_cache() -> Iterator[None]:
    keystores.forget_all()  # every installation below opens its own keys, never another's from memory
    yield
    keystores.forget_all()


def issue_and_revoke(source: Installation, slug: str) -> tuple[str, dict[str, Any], dict[str, Any]]:
    key = source.new_tenant(slug)
    kept = source.issue(slug, "ann@example.org")
    revoked = source.issue(slug, "bob@example.org")
    with source.api(key) as client:
        assert client.post(f"/api/v1/credentials/{revoked['row']}/revoke", json={"reason": "copied"}).status_code == 200
        assert checked_by_api(client, kept["row"])["verified"] is True
        assert checked_by_api(client, revoked["row"])["revoked"] is True
    return key, kept, revoked


def assert_restored(target: Installation, slug: str, key: str, kept: dict[str, Any], revoked: dict[str, Any]) -> None:
    with session_scope(target.factory) as session:  # rows as they were: documents and stored timestamps unchanged
        for before in (kept, revoked):
            row = session.get(CredentialRecord, before["row"])
            assert row is not None and row.document == before["document"] and row.issued_at == before["issued_at"]
    with target.api(key) as client:  # the API key hashes came back too
        good = checked_by_api(client, kept["row"])
        assert good["verified"] is True and good["revoked"] is False, good
        bad = checked_by_api(client, revoked["row"])
        assert bad["verified"] is False and bad["revoked"] is True, bad
        offline_good = checked_offline(client, slug, kept["document"])
        assert offline_good.verified, offline_good.errors
        offline_bad = checked_offline(client, slug, revoked["document"])
        assert not offline_bad.verified and offline_bad.check("status").outcome == "failed"
    # The restored keys sign, and the restored list never hands out an index it gave before.
    fresh = target.issue(slug, f"cy-{uuid.uuid4().hex[:6]}@example.org")
    assert fresh["index"] not in (kept["index"], revoked["index"])
    assert fresh["document"]["issuer"]["id"] == kept["document"]["issuer"]["id"]
    with target.api(key) as client:
        assert checked_by_api(client, fresh["row"])["verified"] is True


def test_sqlite_backup_and_restore_through_the_cli(tmp_path: Path) -> None:
    source = Installation(settings_at(tmp_path / "source"))
    key, kept, revoked = issue_and_revoke(source, "acme")
    archive = tmp_path / "backups" / "grader.tar.gz"
    made = cli(source.settings, "service", "backup", str(archive))
    assert made.returncode == 0, made.stderr
    assert "backed up sqlite store" in made.stdout and "keystore files" in made.stdout
    assert archive.stat().st_mode & 0o077 == 0  # it holds secrets: the owner's only
    with tarfile.open(archive) as tar:
        names = tar.getnames()
        manifest = json.loads(tar.extractfile("manifest.json").read())  # type: ignore[union-attr]
    assert "store.sqlite3" in names and any(n.startswith("keys/tenants/acme/") for n in names)
    assert manifest["tables"]["credentials"] == 2 and manifest["tables"]["status_lists"] == 1
    keys_at_rest = source.settings.resolved_keys_dir / "tenants" / "acme"
    with tarfile.open(archive) as tar:  # the private keys as they are at rest: encrypted, byte for byte
        for path in keys_at_rest.glob("*.key.json"):
            archived = tar.extractfile(f"keys/tenants/acme/{path.name}").read()  # type: ignore[union-attr]
            assert archived == path.read_bytes() and "ciphertext" in json.loads(archived)
    assert cli(source.settings, "service", "backup", str(archive)).returncode == 2  # never overwritten

    target_settings = settings_at(tmp_path / "target")
    restored = cli(target_settings, "service", "restore", str(archive))
    assert restored.returncode == 0, restored.stderr
    assert "sqlite-backup-api" in restored.stdout
    assert_restored(Installation(target_settings), "acme", key, kept, revoked)


def test_a_restore_is_refused_into_a_store_in_use_with_a_damaged_archive_or_the_wrong_passphrase(
    tmp_path: Path,
) -> None:
    source = Installation(settings_at(tmp_path / "source"))
    source.new_tenant("acme")
    archive = tmp_path / "grader.tar.gz"
    assert cli(source.settings, "service", "backup", str(archive)).returncode == 0
    with pytest.raises(store_backup.BackupError, match="already holds tenants"):
        store_backup.restore(source.settings, archive)

    damaged = tmp_path / "damaged.tar.gz"
    damaged.write_bytes(archive.read_bytes()[:-200])
    with pytest.raises(store_backup.BackupError, match="not a readable backup archive"):
        store_backup.restore(settings_at(tmp_path / "t1"), damaged)

    tampered = tmp_path / "tampered.tar.gz"
    with tarfile.open(archive) as tar, tarfile.open(tampered, "w:gz") as out:
        for member in tar.getmembers():
            data = tar.extractfile(member).read()  # type: ignore[union-attr]
            if member.name == "keys/tenants/acme/keystore.json":
                data = data.replace(b'"active"', b'"retired"')
                member.size = len(data)
            out.addfile(member, io.BytesIO(data))
    with pytest.raises(store_backup.BackupError, match="does not match its checksum"):
        store_backup.restore(settings_at(tmp_path / "t2"), tampered)
    assert not (tmp_path / "t2" / "keys").exists()  # refused before anything was written

    wrong = cli(settings_at(tmp_path / "t3", passphrase="not the passphrase"), "service", "restore", str(archive))
    assert wrong.returncode == 1 and "do not open with this machine's passphrase" in wrong.stderr


def test_the_sqlite_backup_is_consistent_while_the_service_writes(tmp_path: Path) -> None:
    """A writer commits submission events all along; the snapshot is one moment of the store: the
    restore's row counts match the manifest's, and the restored file passes SQLite's integrity check."""
    source = Installation(settings_at(tmp_path / "source"))
    source.new_tenant("acme")
    submission = source.issue("acme", "ann@example.org")
    with session_scope(source.factory) as session:
        row = session.get(CredentialRecord, submission["row"])
        assert row is not None
        submission_id, tenant_id = row.submission_id, row.tenant_id
    with source.factory() as session:
        baseline = session.scalar(select(func.count()).select_from(SubmissionEvent)) or 0
    stop = threading.Event()
    written = [0]
    failures: list[BaseException] = []

    def write() -> None:
        try:
            while not stop.is_set():
                with session_scope(source.factory) as session:
                    session.add(
                        SubmissionEvent(tenant_id=tenant_id, submission_id=submission_id, state="graded", stage="x")
                    )
                written[0] += 1
        except BaseException as exc:  # reported by the assertions below
            failures.append(exc)

    writer = threading.Thread(target=write)
    writer.start()
    try:
        for _ in range(1000):
            if written[0] >= 20 or not writer.is_alive():
                break
            stop.wait(0.01)
        before_backup = written[0]
        report = store_backup.backup(source.settings, tmp_path / "live.tar.gz")
        after_backup = written[0]
    finally:
        stop.set()
        writer.join()
    assert failures == [] and before_backup >= 20
    # The snapshot is one moment between the writes counted before and after it (one may be in flight).
    assert baseline + before_backup <= report.tables["submission_events"] <= baseline + after_backup + 1
    target = settings_at(tmp_path / "target")
    restored = store_backup.restore(target, tmp_path / "live.tar.gz")
    assert restored.tables == report.tables  # the restore checks this itself; the report says so too
    with make_engine(target.resolved_database_url()).connect() as connection:
        assert connection.execute(text("PRAGMA integrity_check")).scalar() == "ok"
        events = connection.execute(select(func.count()).select_from(SubmissionEvent)).scalar()
    assert events == report.tables["submission_events"] and events is not None and events >= 20


@pytest.fixture(scope="module")
def postgres_url(postgres_service: Services) -> str:
    assert postgres_service.database_url is not None
    return postgres_service.database_url


def schema_url(base: str, tmp_name: str) -> str:
    """A schema of its own in the test database (the service's user may not create databases)."""
    schema = f"{tmp_name}_{uuid.uuid4().hex[:8]}"
    engine = make_engine(base)
    with engine.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine.dispose()
    return f"{base}?options=-csearch_path%3D{schema}"


def test_postgres_backup_restores_into_postgres_and_into_sqlite(postgres_url: str, tmp_path: Path) -> None:
    source = Installation(settings_at(tmp_path / "source", schema_url(postgres_url, "bk_src")))
    key, kept, revoked = issue_and_revoke(source, "pgacme")
    archive = tmp_path / "pg.tar.gz"
    made = cli(source.settings, "service", "backup", str(archive))
    assert made.returncode == 0, made.stderr
    with tarfile.open(archive) as tar:
        names = tar.getnames()
    assert "tables/credentials.jsonl" in names and "tables/status_lists.jsonl" in names
    assert "store.sqlite3" not in names

    into_postgres = settings_at(tmp_path / "pg-target", schema_url(postgres_url, "bk_dst"))
    restored = cli(into_postgres, "service", "restore", str(archive))
    assert restored.returncode == 0, restored.stderr
    assert "logical" in restored.stdout
    assert_restored(Installation(into_postgres), "pgacme", key, kept, revoked)

    keystores.forget_all()
    into_sqlite = settings_at(tmp_path / "sqlite-target")
    restored = cli(into_sqlite, "service", "restore", str(archive))
    assert restored.returncode == 0, restored.stderr
    assert_restored(Installation(into_sqlite), "pgacme", key, kept, revoked)

    # And back: that SQLite store's snapshot imported into PostgreSQL (the fourth pairing).
    keystores.forget_all()
    again = tmp_path / "from-sqlite.tar.gz"
    store_backup.backup(into_sqlite, again)
    back_to_postgres = settings_at(tmp_path / "pg-again", schema_url(postgres_url, "bk_back"))
    report = store_backup.restore(back_to_postgres, again)
    assert report.method == "logical" and report.dialect == "sqlite"
    assert_restored(Installation(back_to_postgres), "pgacme", key, kept, revoked)
