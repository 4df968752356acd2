"""API keys: `gk_<prefix>_<secret>`. The prefix finds the row; only a SHA-256 of the secret is stored.

The secret has 256 bits of entropy, so a plain SHA-256 (not a slow password hash) is the right tool:
nobody can brute-force it, and checking a key on every request stays cheap.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from pydantic import BaseModel

KEY_PREFIX = "gk"


class ParsedKey(BaseModel):
    prefix: str
    secret: str


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_key() -> tuple[str, str, str]:
    """A fresh key: (full key shown once, prefix to store, hash to store)."""
    prefix = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    return f"{KEY_PREFIX}_{prefix}_{secret}", prefix, hash_secret(secret)


def parse_key(raw: str) -> ParsedKey | None:
    parts = raw.strip().split("_", 2)
    if len(parts) != 3 or parts[0] != KEY_PREFIX or not parts[1] or not parts[2]:
        return None
    return ParsedKey(prefix=parts[1], secret=parts[2])


def secret_matches(secret: str, stored_hash: str) -> bool:
    return hmac.compare_digest(hash_secret(secret), stored_hash)
