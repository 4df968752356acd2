"""W3C Bitstring Status List v1.0: revocation and suspension of credentials.

A status list is a bitstring of at least 131,072 bits (16 KiB, so that one credential's index tells
little about the issuer's volume), published GZIP-compressed and multibase base64url encoded
(``u...``) inside a signed ``BitstringStatusListCredential``. Bit ``i`` is the i-th bit from the left:
byte ``i // 8``, mask ``0x80 >> (i % 8)``.

Indices are allocated at random (a CSPRNG) and never reused, so neighbouring indices say nothing
about issue order. Why a credential was revoked is the caller's record, not the list's.
"""

from __future__ import annotations

import gzip
import io
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field

from credentials.contexts import VC_V2
from credentials.errors import StatusListError
from credentials.models import BitstringStatusListEntry, StatusPurpose
from credentials.multibase import MultibaseError, decode_base64url, encode_base64url
from credentials.proof import Signer, format_datetime, sign_document

MIN_BITS: Final = 131_072
# When this share of indices is taken, random probing gets slow: fall back to a scan of free bits.
_PROBE_LIMIT: Final = 0.5
_MAX_DECODED_BYTES: Final = 16 * 1024 * 1024  # refuse gzip bombs when reading a list


def _bit(data: bytes | bytearray, index: int) -> bool:
    return bool(data[index // 8] & (0x80 >> (index % 8)))


def _set_bit(data: bytearray, index: int, value: bool) -> None:
    mask = 0x80 >> (index % 8)
    if value:
        data[index // 8] |= mask
    else:
        data[index // 8] &= ~mask & 0xFF


def encode_bitstring(bits: bytes | bytearray) -> str:
    """GZIP then multibase base64url (no padding), as ``encodedList`` requires."""
    return encode_base64url(gzip.compress(bytes(bits), mtime=0))


def decode_bitstring(encoded: str) -> bytes:
    """The raw bitstring of an ``encodedList`` (checked: multibase, GZIP, bounded size)."""
    try:
        compressed = decode_base64url(encoded)
    except MultibaseError as exc:
        raise StatusListError(f"encodedList is not multibase base64url: {exc}") from exc
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(compressed)) as handle:
            data = handle.read(_MAX_DECODED_BYTES + 1)
    except (OSError, EOFError) as exc:
        raise StatusListError(f"encodedList is not GZIP data: {exc}") from exc
    if len(data) > _MAX_DECODED_BYTES:
        raise StatusListError("encodedList expands beyond the allowed size")
    return data


class StatusListState(BaseModel):
    """What a store persists for one list: its URL, purpose, status bits and allocated indices."""

    model_config = ConfigDict(extra="forbid")

    url: str
    purpose: StatusPurpose
    size: int = Field(ge=MIN_BITS)
    encoded_bits: str
    encoded_allocated: str


class StatusList:
    """One status list (one purpose): allocate indices, flip bits, publish as a credential."""

    def __init__(
        self,
        url: str,
        purpose: StatusPurpose,
        size: int,
        bits: bytearray,
        allocated: bytearray,
        *,
        validity: timedelta | None = None,
    ) -> None:
        if size < MIN_BITS or size % 8:
            raise StatusListError(f"a status list needs a multiple of 8 bits and at least {MIN_BITS}")
        if len(bits) * 8 != size or len(allocated) * 8 != size:
            raise StatusListError("bitstring length does not match the list size")
        self.url = url
        self.purpose: StatusPurpose = purpose
        self.size = size
        self._bits = bits
        self._allocated = allocated
        self._allocated_count = sum(bin(b).count("1") for b in allocated)
        # How long a published list credential is valid (its validUntil); None: no expiry. A
        # verifier refuses a list past its validUntil, so a publisher with a validity re-signs.
        self.validity = validity

    @classmethod
    def create(
        cls, url: str, purpose: StatusPurpose = "revocation", size: int = MIN_BITS, *, validity: timedelta | None = None
    ) -> StatusList:
        return cls(url, purpose, size, bytearray(size // 8), bytearray(size // 8), validity=validity)

    @classmethod
    def from_state(cls, state: StatusListState, *, validity: timedelta | None = None) -> StatusList:
        return cls(
            state.url,
            state.purpose,
            state.size,
            bytearray(decode_bitstring(state.encoded_bits)),
            bytearray(decode_bitstring(state.encoded_allocated)),
            validity=validity,
        )

    def to_state(self) -> StatusListState:
        return StatusListState(
            url=self.url,
            purpose=self.purpose,
            size=self.size,
            encoded_bits=encode_bitstring(self._bits),
            encoded_allocated=encode_bitstring(self._allocated),
        )

    # -- allocation --

    @property
    def free(self) -> int:
        return self.size - self._allocated_count

    def allocate(self) -> int:
        """A random index never handed out before (raises :class:`StatusListError` when full)."""
        if self._allocated_count >= self.size:
            raise StatusListError(f"status list {self.url} is full; start a new list")
        if self._allocated_count < self.size * _PROBE_LIMIT:
            while True:
                index = secrets.randbelow(self.size)
                if not _bit(self._allocated, index):
                    break
        else:
            # Pick uniformly among the free indices without building a huge list.
            target = secrets.randbelow(self.size - self._allocated_count)
            index = self._nth_free(target)
        _set_bit(self._allocated, index, True)
        self._allocated_count += 1
        return index

    def _nth_free(self, target: int) -> int:
        for byte_index, byte in enumerate(self._allocated):
            free_here = 8 - bin(byte).count("1")
            if target >= free_here:
                target -= free_here
                continue
            for offset in range(8):
                if not byte & (0x80 >> offset):
                    if target == 0:
                        return byte_index * 8 + offset
                    target -= 1
        raise StatusListError("no free index")  # unreachable while counts are consistent

    def is_allocated(self, index: int) -> bool:
        self._check_index(index)
        return _bit(self._allocated, index)

    def entry(self, index: int) -> BitstringStatusListEntry:
        """The ``credentialStatus`` to put in the credential that got ``index``."""
        if not self.is_allocated(index):
            raise StatusListError(f"index {index} of {self.url} was not allocated")
        return BitstringStatusListEntry(
            id=f"{self.url}#{index}",
            statusPurpose=self.purpose,
            statusListIndex=str(index),
            statusListCredential=self.url,
        )

    def allocate_entry(self) -> BitstringStatusListEntry:
        return self.entry(self.allocate())

    # -- status bits --

    def _check_index(self, index: int) -> None:
        if not 0 <= index < self.size:
            raise StatusListError(f"index {index} is outside the list (0..{self.size - 1})")

    def get(self, index: int) -> bool:
        self._check_index(index)
        return _bit(self._bits, index)

    def _set(self, index: int, value: bool) -> None:
        if not self.is_allocated(index):
            raise StatusListError(f"index {index} of {self.url} belongs to no credential")
        _set_bit(self._bits, index, value)

    def revoke(self, index: int) -> None:
        """Revoke for good (a revocation list only)."""
        if self.purpose != "revocation":
            raise StatusListError(f"{self.url} is a {self.purpose} list; revoke on a revocation list")
        self._set(index, True)

    def suspend(self, index: int) -> None:
        if self.purpose != "suspension":
            raise StatusListError(f"{self.url} is a {self.purpose} list; suspend on a suspension list")
        self._set(index, True)

    def unsuspend(self, index: int) -> None:
        if self.purpose != "suspension":
            raise StatusListError("revocation cannot be undone")
        self._set(index, False)

    def encoded_list(self) -> str:
        return encode_bitstring(self._bits)

    # -- publication --

    def to_credential(
        self, issuer: str, *, valid_from: datetime | None = None, valid_until: datetime | None = None
    ) -> dict[str, Any]:
        """The unsigned ``BitstringStatusListCredential`` (its ``id`` is the list URL).

        Without ``valid_until``, a list with a :attr:`validity` is valid for that long from ``valid_from``.
        """
        valid_from = valid_from or datetime.now(UTC)
        if valid_until is None and self.validity is not None:
            valid_until = valid_from + self.validity
        credential: dict[str, Any] = {
            "@context": [VC_V2],
            "id": self.url,
            "type": ["VerifiableCredential", "BitstringStatusListCredential"],
            "issuer": issuer,
            "validFrom": format_datetime(valid_from),
            "credentialSubject": {
                "id": f"{self.url}#list",
                "type": "BitstringStatusList",
                "statusPurpose": self.purpose,
                "encodedList": self.encoded_list(),
            },
        }
        if valid_until is not None:
            credential["validUntil"] = format_datetime(valid_until)
        return credential

    def issue_credential(
        self,
        issuer: str,
        signer: Signer,
        *,
        valid_from: datetime | None = None,
        valid_until: datetime | None = None,
    ) -> dict[str, Any]:
        """The signed status list credential, ready to publish at :attr:`url`."""
        return sign_document(self.to_credential(issuer, valid_from=valid_from, valid_until=valid_until), signer)


@dataclass(frozen=True)
class StatusCheck:
    """The outcome of reading a credential's status bit."""

    state: Literal["ok", "set", "invalid"]
    reason: str
    purpose: str | None = None
    index: int | None = None


def _types(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def read_status(list_credential: dict[str, Any], entry: dict[str, Any], fetched_from: str | None = None) -> StatusCheck:
    """Read the bit of ``entry`` (a credential's ``credentialStatus``) in a status list credential.

    This checks the list's shape, that it is the list the entry names (its ``id``, or the URL it was
    ``fetched_from``) and that both have the same purpose. Checking the list credential's proof,
    issuer and validity is the verifier's job (see :mod:`credentials.verify`).
    """
    if entry.get("type") != "BitstringStatusListEntry":
        return StatusCheck("invalid", f"credentialStatus type {entry.get('type')!r} is not BitstringStatusListEntry")
    purpose = entry.get("statusPurpose")
    raw_index = entry.get("statusListIndex")
    try:
        index = int(str(raw_index))  # decimal digits only (int() of a str is base 10)
    except ValueError:
        return StatusCheck("invalid", f"statusListIndex {raw_index!r} is not an integer")
    if "BitstringStatusListCredential" not in _types(list_credential.get("type")):
        return StatusCheck("invalid", "the status list is not a BitstringStatusListCredential")
    url = entry.get("statusListCredential")
    if url not in (list_credential.get("id"), fetched_from):
        # Any other list of the issuer may have this index clear: only the named list counts.
        return StatusCheck("invalid", f"the status list is {list_credential.get('id')!r}, not {url!r}")
    subject = list_credential.get("credentialSubject")
    if not isinstance(subject, dict) or "BitstringStatusList" not in _types(subject.get("type")):
        return StatusCheck("invalid", "the status list credential has no BitstringStatusList subject")
    if subject.get("statusPurpose") != purpose:
        return StatusCheck("invalid", f"list purpose {subject.get('statusPurpose')!r} differs from {purpose!r}")
    try:
        bits = decode_bitstring(str(subject.get("encodedList", "")))
    except StatusListError as exc:
        return StatusCheck("invalid", str(exc))
    if len(bits) * 8 < MIN_BITS:
        return StatusCheck("invalid", f"the status list has {len(bits) * 8} bits, fewer than {MIN_BITS}")
    if not 0 <= index < len(bits) * 8:
        return StatusCheck("invalid", f"statusListIndex {index} is outside the list")
    if _bit(bits, index):
        return StatusCheck("set", f"{purpose} bit {index} is set: the credential is {_past(purpose)}", purpose, index)
    return StatusCheck("ok", f"{purpose} bit {index} of {url} is not set", purpose, index)


def _past(purpose: Any) -> str:
    return {"revocation": "revoked", "suspension": "suspended"}.get(str(purpose), f"flagged ({purpose})")
