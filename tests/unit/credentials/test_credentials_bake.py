"""Baking credentials into PNG badges and extracting them."""

from __future__ import annotations

import io
import json
import zlib

import pytest
from PIL import Image, ImageChops

from credentials.bake import KEYWORD, _chunks, bake, bake_credential, extract_credential, render_badge, unbake
from credentials.errors import BakeError
from tests.data.credentials import INTEROP
from tests.unit.credentials.credsamples import sample_credential


def _itxt_count(png: bytes) -> int:
    return sum(1 for kind, data in _chunks(png) if kind == b"iTXt" and data.startswith(KEYWORD + b"\x00"))


def test_bake_and_extract_our_credential_in_a_generated_badge() -> None:
    credential = sample_credential()
    png = bake_credential(credential)
    assert extract_credential(png) == credential
    assert _itxt_count(png) == 1
    image = Image.open(io.BytesIO(png))
    image.verify()  # a well-formed PNG that image tools accept
    assert Image.open(io.BytesIO(png)).size == (512, 512)


def test_badge_shows_the_achievement_name() -> None:
    one = Image.open(io.BytesIO(render_badge("Python Ledger Project"))).convert("RGB")
    two = Image.open(io.BytesIO(render_badge("Rust Parser Project"))).convert("RGB")
    blank = Image.open(io.BytesIO(render_badge(""))).convert("RGB")
    assert ImageChops.difference(one, two).getbbox() is not None
    # the text is drawn in the middle band of the medal
    box = ImageChops.difference(one, blank).getbbox()
    assert box is not None
    left, top, right, _bottom = box
    assert 100 < top < 300 and right - left > 150


def test_rebaking_replaces_and_keeps_pixels() -> None:
    first = bake_credential(sample_credential())
    other = sample_credential(credential_id="urn:uuid:00000000-0000-4000-8000-000000000001")
    second = bake(first, other)
    assert _itxt_count(second) == 1
    assert extract_credential(second) == other
    assert Image.open(io.BytesIO(first)).tobytes() == Image.open(io.BytesIO(second)).tobytes()


def test_extract_from_interop_json_badge() -> None:
    credential = extract_credential((INTEROP / "simple-json.png").read_bytes())
    assert isinstance(credential, dict)
    assert "VerifiableCredential" in credential["type"]
    assert credential["credentialSubject"]["achievement"]["name"]


@pytest.mark.parametrize("name", ["simple-jwt.png", "simple-jwt_v1.png"])
def test_extract_from_interop_jwt_badges(name: str) -> None:
    jws = extract_credential((INTEROP / name).read_bytes())
    assert isinstance(jws, str)
    header, payload, signature = jws.split(".")
    assert json.loads(_b64url(header))["alg"]
    assert "vc" in json.loads(_b64url(payload)) or "credentialSubject" in json.loads(_b64url(payload))
    assert signature


def _b64url(part: str) -> bytes:
    import base64

    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def test_compressed_itxt_is_read() -> None:
    png = render_badge("x")
    text = json.dumps({"@context": [], "type": ["VerifiableCredential"]})
    data = KEYWORD + b"\x00\x01\x00\x00\x00" + zlib.compress(text.encode())
    chunk = len(data).to_bytes(4, "big") + b"iTXt" + data + zlib.crc32(b"iTXt" + data).to_bytes(4, "big")
    iend = png.rindex(b"IEND") - 4
    assert unbake(png[:iend] + chunk + png[iend:]) == text


def test_errors() -> None:
    with pytest.raises(BakeError, match="not a PNG"):
        unbake(b"GIF89a")
    png = render_badge("x")
    with pytest.raises(BakeError, match="no 'openbadgecredential'"):
        unbake(png)
    baked = bytearray(bake(png, {"a": 1}))
    baked[-20] ^= 0xFF  # corrupt a byte inside the last chunks
    with pytest.raises(BakeError):
        unbake(bytes(baked))
