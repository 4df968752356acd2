"""Settings from `GRADER_*` environment variables, with embedded defaults that run on one machine."""

from __future__ import annotations

import os
import secrets
from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from grader.core.netpolicy import Allowlist


def _default_home() -> Path:
    return Path.home() / ".local" / "share" / "grader"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GRADER_", env_file=None, extra="ignore")

    home: Path = Field(default_factory=_default_home, description="Where state, keys and caches live.")
    key_passphrase: SecretStr | None = Field(
        default=None, description="Unlocks the issuer keystores (GRADER_KEY_PASSPHRASE); default a generated one."
    )
    session_secret_key: SecretStr | None = Field(
        default=None, description="Signs the web pages' session cookies (GRADER_SESSION_SECRET_KEY); default generated."
    )
    sandbox_owner: str = Field(
        default="grader",
        description="Label value on every sandbox this installation starts, so leftover checks see only their own.",
    )

    # Fetch policy: which git servers learners may submit from.
    allowed_hosts: list[str] = Field(
        default=["github.com", "gitlab.com", "codeberg.org", "bitbucket.org"],
        description="Hosts (host or host:port) a repo URL may name.",
    )
    allowed_schemes: list[str] = Field(default=["https"], description="URL schemes a repo URL may use.")
    fetch_timeout_s: float = 60.0
    max_repo_mb: int = 50
    max_repo_files: int = 5000

    # Sandbox
    runtime: str = Field(default="auto", description="Container runtime: auto (runsc when offered), runsc, runc.")
    require_gvisor: bool = Field(default=False, description="Refuse to grade unless runsc is available.")
    deadline_grace_s: float = 5.0
    base_image: str = Field(
        default="auto",
        description="Base of runner images: auto (registry image when reachable, else debootstrap), "
        "debootstrap, or an image reference.",
    )

    # Store and queue (service)
    database_url: str = ""
    request_db_wait_s: float = Field(
        default=2.0,
        gt=0,
        le=60,
        description="How long an API request waits for the store's write lock (or any database lock) before "
        "it answers 503 with Retry-After; workers keep their longer wait.",
    )
    redis_url: str = "redis://127.0.0.1:6379/0"
    # Service: API, queue, workers, webhooks (grader.http, grader.jobs, grader.notify)
    public_url: str = Field(default="http://127.0.0.1:8000", description="Base URL the API is reached at.")
    queue_name: str = "grader"
    job_timeout_s: int = 1800
    job_retries: int = Field(default=3, description="Retries of a job after an infrastructure fault.")
    job_retry_base_s: int = Field(default=10, description="First retry delay; doubles each retry.")
    webhook_retries: int = 6
    webhook_retry_base_s: int = 5
    # LMS grade passback (grader.lti.passback): the same backoff as webhooks, in rounds. A round is one
    # job with its rq retries; a platform still down after it gets another round from the reconciler
    # an hour on, until `lti_passback_max_tries` tries in all.
    lti_passback_retries: int = Field(default=6, ge=1, le=20, description="Retries of one passback round.")
    lti_passback_retry_base_s: int = Field(default=10, ge=1, le=3600, description="First passback retry delay.")
    lti_passback_max_tries: int = Field(default=40, ge=1, le=1000, description="Tries of one score in all.")
    # Outbound guard (grader.outbound, docs/outbound.md): webhooks, LMS platforms, did:web documents.
    outbound_allow: list[str] = Field(
        default=[],
        description="Networks (CIDR or address) and host names outbound requests may reach despite the guard "
        "(GRADER_OUTBOUND_ALLOW, a JSON list; e.g. a test stack's loopback).",
    )
    outbound_timeout_s: float = Field(default=10.0, description="Timeout of each outbound request (connect, read).")
    outbound_max_redirects: int = Field(default=3, ge=0, le=10, description="Redirects outbound.request follows.")
    stuck_after_s: float = Field(default=300, description="Reconciler: a non-terminal submission idle this long.")
    reconcile_interval_s: float = 30
    # Worker leases and the janitor (grader.jobs.lease, grader.jobs.janitor; docs/faults.md).
    lease_ttl_s: float = Field(
        default=60, description="A running job renews its submission's lease; one not renewed this long is requeued."
    )
    janitor_interval_s: float = Field(default=60, description="How often the pool sweeps leftover sandboxes.")
    janitor_grace_s: float = Field(
        default=120, description="A stopped sandbox container or an empty network older than this is a leftover."
    )
    workspace_dir: Path | None = Field(
        default=None, description="Workers' scratch folders for snapshots and suites (default: <home>/work)."
    )
    webhook_give_up_after_s: float = Field(
        default=3 * 86400, description="A webhook delivery is retried (with capped backoff) this long before failing."
    )
    webhook_max_backoff_s: float = Field(default=3600, description="The longest wait between two webhook tries.")
    learner_submissions_per_hour: int = 30
    tenant_submissions_per_minute: int = 120

    keys_dir: Path | None = Field(default=None, description="Issuer keystore (default: <home>/keys).")
    resolve_did_web: bool = Field(
        default=False,
        description="Let the verifier fetch other issuers' did:web documents over HTTPS (public hosts only).",
    )
    outbox_dir: Path | None = Field(
        default=None,
        description="Where the pages write sign-in mails as .eml files (GRADER_OUTBOX_DIR; default <home>/outbox).",
    )
    sign_in_link_ttl_s: int = Field(default=900, description="How long a learner's sign-in link stays valid.")
    issuer_name: str = Field(default="Capstone Grader", description="The issuer's display name in credentials.")
    # Authenticity (grader.core.ownership, grader.jobs.similarity; docs/authenticity.md).
    claim_secret_key: SecretStr | None = Field(
        default=None, description="Derives learners' claim tokens (GRADER_CLAIM_SECRET_KEY); default generated."
    )
    similarity_timeout_s: float = Field(
        default=30, gt=0, le=600, description="The most one submission's similarity check may take."
    )
    similarity_max_candidates: int = Field(
        default=5000, ge=1, le=100_000, description="Earlier submissions one similarity check compares at most."
    )

    @field_validator("outbound_allow")
    @classmethod
    def _outbound_allow_parses(cls, entries: list[str]) -> list[str]:
        Allowlist.parse(entries)  # a malformed entry is refused at start-up, with its name
        return entries

    @property
    def resolved_keys_dir(self) -> Path:
        return self.keys_dir if self.keys_dir is not None else self.home / "keys"

    @property
    def resolved_outbox_dir(self) -> Path:
        return self.outbox_dir if self.outbox_dir is not None else self.home / "outbox"

    @property
    def cache_dir(self) -> Path:
        return self.home / "cache"

    @property
    def work_dir(self) -> Path:
        return self.workspace_dir if self.workspace_dir is not None else self.home / "work"

    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.home / 'grader.db'}"


def _local_secret(settings: Settings, name: str) -> str:
    """A secret generated once for this machine and kept in <home> (mode 0600)."""
    path = settings.home / name
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process made it first
            return path.read_text().strip()
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(32))
    return path.read_text().strip()


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()


KEY_PASSPHRASE_ENV = "GRADER_KEY_PASSPHRASE"


def key_passphrase(settings: Settings) -> str:
    """GRADER_KEY_PASSPHRASE (Settings.key_passphrase), or for local use a generated one kept in <home>
    (mode 0600)."""
    if settings.key_passphrase is not None and settings.key_passphrase.get_secret_value():
        return settings.key_passphrase.get_secret_value()
    return _local_secret(settings, "local-key-passphrase")


def session_secret(settings: Settings) -> str:
    """GRADER_SESSION_SECRET_KEY, or one generated for this machine and kept in <home>. Several API replicas
    must share one: set the variable."""
    if settings.session_secret_key is not None and settings.session_secret_key.get_secret_value():
        return settings.session_secret_key.get_secret_value()
    return _local_secret(settings, "local-session-secret")


def claim_secret(settings: Settings) -> str:
    """GRADER_CLAIM_SECRET_KEY, or one generated for this machine and kept in <home>. The API (which shows
    tokens) and the workers (which check them) must share one: set the variable when they do not share <home>."""
    if settings.claim_secret_key is not None and settings.claim_secret_key.get_secret_value():
        return settings.claim_secret_key.get_secret_value()
    return _local_secret(settings, "local-claim-secret")
