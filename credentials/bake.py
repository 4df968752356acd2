"""Baking: a credential inside a PNG badge (Open Badges 3.0, section "Baking").

The credential goes in an ``iTXt`` chunk with keyword ``openbadgecredential``, uncompressed, whose
text is the credential's JSON (or a compact JWS for JWT-secured credentials). Chunks are edited in
place, so the image pixels and other metadata are untouched; a previously baked credential is
replaced, never duplicated.
"""

from __future__ import annotations

import io
import json
import struct
import textwrap
import zlib
from collections.abc import Iterator
from typing import Any, Final

from PIL import Image, ImageDraw, ImageFont

from credentials.errors import BakeError

KEYWORD: Final = b"openbadgecredential"
PNG_SIGNATURE: Final = b"\x89PNG\r\n\x1a\n"
_MAX_TEXT_BYTES: Final = 8 * 1024 * 1024


def _chunks(png: bytes) -> Iterator[tuple[bytes, bytes]]:
    if not png.startswith(PNG_SIGNATURE):
        raise BakeError("not a PNG file")
    pos = len(PNG_SIGNATURE)
    while pos < len(png):
        if pos + 8 > len(png):
            raise BakeError("truncated PNG chunk header")
        (length,) = struct.unpack(">I", png[pos : pos + 4])
        kind = png[pos + 4 : pos + 8]
        end = pos + 12 + length
        if end > len(png):
            raise BakeError(f"truncated PNG chunk {kind!r}")
        data = png[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", png[pos + 8 + length : end])
        if zlib.crc32(kind + data) != crc:
            raise BakeError(f"bad CRC in PNG chunk {kind!r}")
        yield kind, data
        pos = end
        if kind == b"IEND":
            return
    raise BakeError("PNG has no IEND chunk")


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _itxt(text: str) -> bytes:
    # keyword, NUL, compression flag 0, compression method 0, empty language tag, NUL,
    # empty translated keyword, NUL, UTF-8 text
    return KEYWORD + b"\x00\x00\x00" + b"\x00" + b"\x00" + text.encode("utf-8")


def _parse_itxt(data: bytes) -> tuple[bytes, str]:
    keyword, sep, rest = data.partition(b"\x00")
    if not sep or len(rest) < 2:
        raise BakeError("malformed iTXt chunk")
    compressed, method, rest = rest[0], rest[1], rest[2:]
    _language, sep1, rest = rest.partition(b"\x00")
    _translated, sep2, raw = rest.partition(b"\x00")
    if not (sep1 and sep2):
        raise BakeError("malformed iTXt chunk")
    if compressed:
        if method != 0:
            raise BakeError("unknown iTXt compression method")
        decompressor = zlib.decompressobj()
        raw = decompressor.decompress(raw, _MAX_TEXT_BYTES)
        if decompressor.unconsumed_tail:
            raise BakeError("baked credential is too large")
    try:
        return keyword, raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BakeError("baked credential is not UTF-8") from exc


def bake(png: bytes, credential: dict[str, Any] | str) -> bytes:
    """A copy of ``png`` carrying ``credential`` (a dict is written as JSON, a string as-is)."""
    text = credential if isinstance(credential, str) else json.dumps(credential, ensure_ascii=False)
    out = bytearray(PNG_SIGNATURE)
    inserted = False
    for kind, data in _chunks(png):
        if kind == b"iTXt" and data.partition(b"\x00")[0] == KEYWORD:
            continue  # replaced below
        if kind == b"IEND" and not inserted:
            out += _chunk(b"iTXt", _itxt(text))
            inserted = True
        out += _chunk(kind, data)
    return bytes(out)


def unbake(png: bytes) -> str:
    """The baked text (credential JSON or compact JWS); :class:`BakeError` if there is none."""
    for kind, data in _chunks(png):
        if kind == b"iTXt" and data.partition(b"\x00")[0] == KEYWORD:
            return _parse_itxt(data)[1]
    raise BakeError("the PNG has no 'openbadgecredential' iTXt chunk")


def extract_credential(png: bytes) -> dict[str, Any] | str:
    """The baked credential: a dict for JSON, the compact JWS string for a JWT-secured one."""
    text = unbake(png).strip()
    if text.startswith("{"):
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise BakeError(f"baked credential is not valid JSON: {exc}") from exc
        if not isinstance(value, dict):
            raise BakeError("baked credential is not a JSON object")
        return value
    if text.count(".") == 2:
        return text
    raise BakeError("baked text is neither JSON nor a compact JWS")


def render_badge(title: str, subtitle: str | None = None, *, size: int = 512) -> bytes:
    """A simple badge image: a medal with the achievement's name, in Pillow's built-in font."""
    image = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    margin = size // 32
    draw.ellipse((margin, margin, size - margin, size - margin), fill=(24, 64, 120, 255))
    inner = size // 12
    draw.ellipse((inner, inner, size - inner, size - inner), outline=(235, 190, 60, 255), width=max(2, size // 64))
    _centered_text(draw, title, size, size // 12, y_center=size * 0.46, width_chars=16, fill=(255, 255, 255, 255))
    if subtitle:
        _centered_text(draw, subtitle, size, size // 24, y_center=size * 0.74, width_chars=28, fill=(235, 190, 60, 255))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _centered_text(
    draw: ImageDraw.ImageDraw,
    text: str,
    size: int,
    font_size: int,
    *,
    y_center: float,
    width_chars: int,
    fill: tuple[int, int, int, int],
) -> None:
    lines = textwrap.wrap(text, width=width_chars, max_lines=3, placeholder="…") or [""]
    font = ImageFont.load_default(size=font_size)
    line_height = font_size * 1.2
    top = y_center - line_height * len(lines) / 2
    for index, line in enumerate(lines):
        draw.text((size / 2, top + index * line_height), line, font=font, fill=fill, anchor="mt")


def bake_credential(credential: dict[str, Any], image: bytes | None = None) -> bytes:
    """Bake ``credential`` into ``image``, or into a generated badge showing the achievement's name."""
    if image is None:
        subject = credential.get("credentialSubject")
        achievement = subject.get("achievement") if isinstance(subject, dict) else None
        name = achievement.get("name") if isinstance(achievement, dict) else None
        issuer = credential.get("issuer")
        issuer_name = issuer.get("name") if isinstance(issuer, dict) else None
        image = render_badge(str(name or credential.get("name") or "Badge"), issuer_name)
    return bake(image, credential)
