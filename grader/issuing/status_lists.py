"""Bitstring status lists (W3C Bitstring Status List v1.0) kept in the store.

The bit logic, random index allocation and the list credential come from `credentials.status`;
this module only loads a tenant's list from its row and writes it back. Bit `i` is the status of
the credential with `statusListIndex` i; 1 means revoked.

A published list credential is valid for :data:`LIST_VALIDITY` (its ``validUntil``): verifiers
refuse a list past it, so a stale copy cannot be replayed to hide a later revocation. The signed
document cached in the row is signed anew (:func:`refresh_if_stale`) once less than
:data:`REFRESH_MARGIN` of its validity is left.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from credentials.status import MIN_BITS, StatusList, decode_bitstring
from grader.issuing.list_validity import LIST_VALIDITY, REFRESH_MARGIN, needs_refresh
from grader.store.models import StatusList as StatusListRow
from grader.store.models import utcnow

PURPOSE: Final = "revocation"
__all__ = ["LIST_VALIDITY", "REFRESH_MARGIN", "needs_refresh"]  # re-exported (grader.issuing.list_validity)


def list_url(public_url: str, list_id: str) -> str:
    """Where verifiers fetch the list credential (served by grader.http.api.credentials)."""
    return f"{public_url.rstrip('/')}/api/v1/public/status-lists/{list_id}"


def load(row: StatusListRow, public_url: str) -> StatusList:
    """The list of ``row``; its credential is published with a validUntil LIST_VALIDITY ahead."""
    return StatusList(
        list_url(public_url, row.id),
        PURPOSE,
        row.size,
        bytearray(row.bits),
        bytearray(row.allocated),
        validity=LIST_VALIDITY,
    )


def refresh_if_stale(row: StatusListRow, now: datetime | None = None) -> bool:
    """Drop the row's cached list credential when it needs refreshing, so the next request signs
    it anew with a fresh validUntil. Returns whether it was dropped."""
    if row.document is not None and needs_refresh(row.document, now):
        row.document = None
        return True
    return False


def _save(row: StatusListRow, status_list: StatusList, allocated_count: int) -> None:
    state = status_list.to_state()  # the package's public form: encoded bitstrings
    row.bits = decode_bitstring(state.encoded_bits)
    row.allocated = decode_bitstring(state.encoded_allocated)
    row.allocated_count = allocated_count
    row.document = None  # the signed list credential must be made anew
    row.updated_at = utcnow()


def save(session: Session, row: StatusListRow, status_list: StatusList) -> None:
    """Write ``status_list`` (bits and allocations changed in memory) back to ``row``."""
    _save(row, status_list, status_list.size - status_list.free)
    session.flush()


def current_row(session: Session, tenant_id: str) -> StatusListRow:
    """The tenant's open list (locked for update on PostgreSQL), created on first use."""
    rows = session.scalars(
        select(StatusListRow)
        .where(StatusListRow.tenant_id == tenant_id, StatusListRow.purpose == PURPOSE)
        .order_by(StatusListRow.updated_at.desc())
        .with_for_update()
    ).all()
    for row in rows:
        if row.allocated_count < row.size:
            return row
    empty = bytes(MIN_BITS // 8)
    fresh = StatusListRow(
        tenant_id=tenant_id, purpose=PURPOSE, size=MIN_BITS, allocated_count=0, bits=empty, allocated=empty
    )
    session.add(fresh)
    session.flush()
    return fresh


def allocate_index(session: Session, tenant_id: str, public_url: str) -> tuple[StatusListRow, int]:
    row = current_row(session, tenant_id)
    status_list = load(row, public_url)
    index = status_list.allocate()
    _save(row, status_list, row.allocated_count + 1)
    session.flush()
    return row, index


def revoke(session: Session, row: StatusListRow, index: int, public_url: str) -> None:
    status_list = load(row, public_url)
    status_list.revoke(index)
    _save(row, status_list, row.allocated_count)
    session.flush()


def is_revoked(row: StatusListRow, index: int, public_url: str) -> bool:
    return load(row, public_url).get(index)
