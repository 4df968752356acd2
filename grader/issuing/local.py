"""The local (did:key) issuer the CLI and the demo use: it signs what grader.core.credential_mapping
builds, keeps its keystore under `<home>/keys` and its status list under `<home>/status`.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from credentials.keys import METADATA_FILE, Keystore
from credentials.models import Profile
from credentials.proof import sign_document
from credentials.status import StatusList, StatusListState
from grader.config import Settings, key_passphrase
from grader.core.credential_mapping import unsigned_credential
from grader.core.evidence import Evidence
from grader.core.grade import Grade
from grader.core.issuance_rule import require_issuable
from grader.core.spec import AssignmentSpec
from grader.issuing.keystores import UnlockAhead, open_cached
from grader.issuing.list_validity import LIST_VALIDITY, needs_refresh

if TYPE_CHECKING:  # the verifier loads when something is verified, not with every `grader grade`
    from credentials.verify import VerificationReport

# --- the local issuer (CLI) -------------------------------------------------------------------


class IssuedRecord(BaseModel):
    credential_id: str
    status_index: int
    revoked: bool = False
    reason: str = ""


class LocalIssuer:
    """Signs with the keystore in `<keys dir>` (did:key unless initialised with did:web) and keeps one
    revocation status list in `<home>/status`. Created on first use with embedded defaults."""

    def __init__(self, settings: Settings, keystore: Keystore, learner: str | None = None) -> None:
        self.settings = settings
        self.keystore = keystore
        self.learner = learner
        self.status_dir = settings.home / "status"
        self.status_dir.mkdir(parents=True, exist_ok=True)
        self._unlocking: UnlockAhead | None = None

    def unlock_ahead(self) -> None:
        """Start deriving the signing key now, in the background, so that a passing grade's signature
        does not wait for it (the CLI starts this before fetching)."""
        if self._unlocking is None:
            self._unlocking = UnlockAhead(self.keystore)

    @property
    def status_url(self) -> str:
        return f"{self.settings.public_url.rstrip('/')}/status/local"

    @property
    def status_state_file(self) -> Path:
        return self.status_dir / "local-state.json"

    @property
    def status_credential_file(self) -> Path:
        return self.status_dir / "local-status-list.json"

    @property
    def registry_file(self) -> Path:
        return self.status_dir / "issued.json"

    def _status_list(self) -> StatusList:
        # The published list carries a validUntil (LIST_VALIDITY ahead), as the service's lists do: a
        # copy kept from before a revocation stops verifying once it expires.
        if self.status_state_file.is_file():
            state = StatusListState.model_validate_json(self.status_state_file.read_text())
            return StatusList.from_state(state, validity=LIST_VALIDITY)
        return StatusList.create(self.status_url, "revocation", validity=LIST_VALIDITY)

    def _save_status(self, status_list: StatusList) -> None:
        self.status_state_file.write_text(status_list.to_state().model_dump_json())
        signed = status_list.issue_credential(self.keystore.issuer_id(), self.keystore.signer())
        self.status_credential_file.write_text(json.dumps(signed, indent=2))

    def _registry(self) -> dict[str, IssuedRecord]:
        if not self.registry_file.is_file():
            return {}
        raw = json.loads(self.registry_file.read_text())
        return {key: IssuedRecord.model_validate(value) for key, value in raw.items()}

    def _save_registry(self, registry: dict[str, IssuedRecord]) -> None:
        self.registry_file.write_text(json.dumps({k: v.model_dump() for k, v in registry.items()}, indent=2))

    def issue(self, grade: Grade, evidence: Evidence, spec: AssignmentSpec) -> dict[str, Any]:
        require_issuable(grade, spec)
        if self._unlocking is not None:
            self._unlocking.wait()  # never derive the key twice at once
        status_list = self._status_list()
        entry = status_list.allocate_entry()
        credential_id = f"urn:uuid:{uuid.uuid4()}"
        base = self.settings.public_url.rstrip("/")
        unsigned = unsigned_credential(
            issuer=Profile(id=self.keystore.issuer_id(), name=self.settings.issuer_name, url=base),
            spec=spec,
            achievement_id=f"{base}/achievements/{spec.id}/{spec.version}",
            learner=self.learner or evidence.repository,
            grade=grade,
            evidence=evidence,
            status=entry,
            credential_id=credential_id,
            now=datetime.now(UTC).replace(microsecond=0),
        )
        signed = sign_document(unsigned, self.keystore.signer())
        self._save_status(status_list)
        registry = self._registry()
        registry[credential_id] = IssuedRecord(credential_id=credential_id, status_index=int(entry.statusListIndex))
        self._save_registry(registry)
        return signed

    def revoke(self, credential_id: str, reason: str) -> IssuedRecord:
        """Set the credential's bit in the status list; the reason stays here, not in the list."""
        registry = self._registry()
        record = registry.get(credential_id)
        if record is None:
            raise KeyError(f"no credential {credential_id!r} was issued by the local issuer")
        status_list = self._status_list()
        status_list.revoke(record.status_index)
        self._save_status(status_list)
        registry[credential_id] = record.model_copy(update={"revoked": True, "reason": reason})
        self._save_registry(registry)
        return registry[credential_id]

    def status_list_credential(self) -> dict[str, Any] | None:
        """The signed list credential, signed anew (a fresh validUntil) when it is close to expiry;
        None before the first credential is issued."""
        if not self.status_credential_file.is_file():
            return None
        loaded: dict[str, Any] = json.loads(self.status_credential_file.read_text())
        if needs_refresh(loaded) and self.status_state_file.is_file():
            self._save_status(self._status_list())
            loaded = json.loads(self.status_credential_file.read_text())
        return loaded

    def verify(self, credential: dict[str, Any]) -> VerificationReport:
        from credentials.verify import verify_credential

        return verify_credential(
            credential,
            status_list=self.status_list_credential(),
            key_resolver=self.keystore.resolve,
            require_evidence=True,
        )


def open_local_keystore(settings: Settings) -> Keystore:
    directory = settings.resolved_keys_dir
    passphrase = key_passphrase(settings)
    if not (directory / METADATA_FILE).is_file():
        return Keystore.init(directory, passphrase)
    return open_cached(directory, passphrase)


def local_issuer(settings: Settings, learner: str | None = None) -> LocalIssuer:
    return LocalIssuer(settings, open_local_keystore(settings), learner)


def verify_issued(credential: dict[str, Any], settings: Settings) -> VerificationReport:
    """Verify a credential of the local issuer with its keys and current status list."""
    return local_issuer(settings).verify(credential)


def report_summary(report: VerificationReport) -> str:
    return ", ".join(f"{c.name}:{c.outcome}" for c in report.checks)
