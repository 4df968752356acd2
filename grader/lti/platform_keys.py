"""The platforms' signing keys: each registration's JWKS, fetched once and cached, fetched again when a
token names a kid we have not seen (the platform rotated), at most once per `REFETCH_SECONDS` per URL so
a stream of made-up kids cannot turn us into a fetch amplifier. RS256 keys only."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from jwt import PyJWK
from jwt.exceptions import PyJWKError

from grader.config import Settings
from grader.lti import net
from grader.lti.errors import LtiRefused, PlatformUnavailable

CACHE_SECONDS = 600.0
REFETCH_SECONDS = 2.0

Fetch = Callable[[str], Any]


@dataclass
class _Entry:
    keys: dict[str, PyJWK]
    fetched_at: float


def fetcher(settings: Settings) -> Fetch:
    """The JWKS fetch through grader.lti.net (the guarded client)."""
    return lambda url: net.get_json(settings, url, "jwks")


@dataclass
class PlatformKeys:
    """A JWKS cache shared by the app's requests (thread-safe)."""

    fetch: Fetch
    clock: Callable[[], float] = time.monotonic
    fetches: int = 0
    _entries: dict[str, _Entry] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _load(self, url: str) -> _Entry:
        document = self.fetch(url)
        self.fetches += 1
        raw = document.get("keys") if isinstance(document, dict) else None
        if not isinstance(raw, list):
            raise PlatformUnavailable("jwks", f"{url} is not a JWK Set (no 'keys' array)")
        keys: dict[str, PyJWK] = {}
        for item in raw:
            if not isinstance(item, dict) or item.get("kty") != "RSA" or not isinstance(item.get("kid"), str):
                continue  # only RSA keys with a kid can verify an RS256 launch
            if item.get("use", "sig") != "sig" or item.get("alg", "RS256") != "RS256":
                continue
            try:
                keys[item["kid"]] = PyJWK(item, algorithm="RS256")
            except PyJWKError:
                continue
        entry = _Entry(keys=keys, fetched_at=self.clock())
        with self._lock:
            self._entries[url] = entry
        return entry

    def key(self, url: str, kid: str) -> PyJWK:
        """The key `kid` of the JWKS at `url`. Raises LtiRefused('kid') when it is unknown even after a
        fresh fetch, PlatformUnavailable('jwks') when the JWKS cannot be had."""
        with self._lock:
            entry = self._entries.get(url)
        now = self.clock()
        stale = entry is None or now - entry.fetched_at > CACHE_SECONDS
        rotated = entry is not None and kid not in entry.keys and now - entry.fetched_at > REFETCH_SECONDS
        if entry is None or stale or rotated:
            entry = self._load(url)
        found = entry.keys.get(kid)
        if found is None:
            raise LtiRefused("kid", f"the platform's JWKS ({url}) has no RS256 key {kid!r}", status=401)
        return found
