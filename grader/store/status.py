"""Bitstring status lists (W3C Bitstring Status List v1.0) kept in the store.

Bit `i` (counted from the most significant bit of the first byte) is the status of the credential
with `statusListIndex` i; 1 means revoked. Lists are at least 131,072 bits so that one index says
little about which credential a verifier asks about.
"""

from __future__ import annotations

import base64
import gzip

from sqlalchemy import select
from sqlalchemy.orm import Session

from grader.store.models import StatusList, utcnow

MIN_BITS = 131_072


class StatusListFull(RuntimeError):
    """No free index is left in the tenant's current list (a new list is opened instead)."""


def empty_bits(size: int = MIN_BITS) -> bytes:
    return bytes(size // 8)


def get_bit(bits: bytes, index: int) -> bool:
    return bool(bits[index // 8] & (0x80 >> (index % 8)))


def set_bit(bits: bytes, index: int, value: bool) -> bytes:
    data = bytearray(bits)
    mask = 0x80 >> (index % 8)
    data[index // 8] = (data[index // 8] | mask) if value else (data[index // 8] & ~mask)
    return bytes(data)


def encode_list(bits: bytes) -> str:
    """The `encodedList` value: multibase base64url (no padding) of the GZIP of the bitstring."""
    packed = gzip.compress(bits, mtime=0)
    return "u" + base64.urlsafe_b64encode(packed).rstrip(b"=").decode()


def decode_list(encoded: str) -> bytes:
    if not encoded.startswith("u"):
        raise ValueError("encodedList must be multibase base64url (prefix 'u')")
    body = encoded[1:]
    return gzip.decompress(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))


def current_list(session: Session, tenant_id: str, purpose: str = "revocation") -> StatusList:
    """The tenant's open list (locked for update on PostgreSQL), created on first use."""
    rows = session.scalars(
        select(StatusList)
        .where(StatusList.tenant_id == tenant_id, StatusList.purpose == purpose)
        .order_by(StatusList.updated_at.desc())
        .with_for_update()
    ).all()
    for row in rows:
        if row.next_index < row.size:
            return row
    fresh = StatusList(tenant_id=tenant_id, purpose=purpose, size=MIN_BITS, next_index=0, bits=empty_bits())
    session.add(fresh)
    session.flush()
    return fresh


def allocate_index(session: Session, tenant_id: str) -> tuple[StatusList, int]:
    status_list = current_list(session, tenant_id)
    index = status_list.next_index
    status_list.next_index = index + 1
    status_list.updated_at = utcnow()
    session.flush()
    return status_list, index


def mark(session: Session, status_list: StatusList, index: int, revoked: bool = True) -> None:
    status_list.bits = set_bit(status_list.bits, index, revoked)
    status_list.document = None  # the signed list credential must be made anew
    status_list.updated_at = utcnow()
    session.flush()
