"""The default badge image of an achievement without one of its own: a disc in a colour taken from the
achievement's id, with the initials of its name. Deterministic (the same id and name give the same
bytes), so it can be served, cached and baked without being stored."""

from __future__ import annotations

import colorsys
import hashlib
import io
import re

from PIL import Image, ImageDraw, ImageFont

SIZE = 512


def initials(name: str) -> str:
    """Up to three initials of the name's words (letters and digits), upper case; "?" for none."""
    words = [w for w in re.split(r"[^0-9A-Za-z\u00c0-\uffff]+", name) if w]
    significant = [w for w in words if w.lower() not in {"a", "an", "and", "of", "the", "to", "for", "in", "on"}]
    picked = (significant or words)[:3]
    return "".join(w[0] for w in picked).upper() or "?"


def colour(seed: str) -> tuple[int, int, int]:
    """A dark, saturated colour from the seed's hash (white text on it passes WCAG AA)."""
    digest = hashlib.sha256(seed.encode()).digest()
    hue = int.from_bytes(digest[:2], "big") / 65536
    red, green, blue = colorsys.hls_to_rgb(hue, 0.30, 0.65)
    return round(red * 255), round(green * 255), round(blue * 255)


def default_badge_png(seed: str, name: str, size: int = SIZE) -> bytes:
    """The badge: a disc in `colour(seed)` with a gold ring and the initials of `name`."""
    image = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    margin = size // 32
    draw.ellipse((margin, margin, size - margin, size - margin), fill=(*colour(seed), 255))
    ring = size // 12
    draw.ellipse((ring, ring, size - ring, size - ring), outline=(235, 190, 60, 255), width=max(2, size // 40))
    text = initials(name)
    font = ImageFont.load_default(size=size * (38 if len(text) < 3 else 28) // 100)
    draw.text((size / 2, size / 2), text, font=font, fill=(255, 255, 255, 255), anchor="mm")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=False)
    return buffer.getvalue()
