"""How long a published status list credential stays valid, and when it must be signed anew.

Pure (no store, no I/O), so the CLI's local issuer uses it without loading the service's database
layer; grader.issuing.status_lists re-exports it for the service's lists.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Final

LIST_VALIDITY: Final = timedelta(hours=24)
REFRESH_MARGIN: Final = timedelta(hours=6)


def _valid_until(document: dict[str, Any]) -> datetime | None:
    raw = document.get("validUntil")
    if not isinstance(raw, str):
        return None
    try:
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def needs_refresh(document: dict[str, Any] | None, now: datetime | None = None) -> bool:
    """True when the signed list credential must be made anew: none yet, no (readable) validUntil,
    or less than REFRESH_MARGIN of its validity left."""
    if document is None:
        return True
    until = _valid_until(document)
    return until is None or until - REFRESH_MARGIN <= (now or datetime.now(UTC))
