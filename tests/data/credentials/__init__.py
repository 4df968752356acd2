"""Vendored reference data of the credentials tests (see README.md): paths inside the checkout only."""

from __future__ import annotations

from pathlib import Path

DATA = Path(__file__).resolve().parent
INTEROP = DATA / "interop"
BITSTRING = INTEROP / "bit-string-list"
VECTORS = DATA / "test-vectors"
