"""Bundled JSON-LD contexts, pinned by SHA-256, and a document loader that never uses the network.

A credential's meaning depends on its contexts; fetching them at verification time would let whoever
serves them change what was signed. So only the contexts shipped in this package are served, and each
file is checked against its pinned hash before its first use.
"""

from __future__ import annotations

import hashlib
import json
from functools import cache
from pathlib import Path
from typing import Any

from credentials.errors import ContextIntegrityError, UnknownContextError

VC_V2 = "https://www.w3.org/ns/credentials/v2"
OB_V3 = "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json"
OB_V3_EXTENSIONS = "https://purl.imsglobal.org/spec/ob/v3p0/extensions.json"
# The VC 1.1 context is recognised only to reject it with a precise reason.
VC_V1 = "https://www.w3.org/2018/credentials/v1"

# url -> (bundled file name, sha256 hex of the file's bytes)
PINNED_CONTEXTS: dict[str, tuple[str, str]] = {
    VC_V2: ("credentials-v2.jsonld", "59955ced6697d61e03f2b2556febe5308ab16842846f5b586d7f1f7adec92734"),
    OB_V3: ("ob-context-3.0.3.json", "ef2fa9c7846dce233cc166b43639027278be4ee44f00bb1d45c75de2dd0cd761"),
    OB_V3_EXTENSIONS: (
        "ob-v3p0-extensions.json",
        "146f85aa16effd7ca1da8056eb443f53ce1eca8a34186cb062832c0a97d889c3",
    ),
}

# Read relative to this file (not importlib.resources) so that it works however the package is
# installed, including as a stale editable namespace package.
_CONTEXT_DIR = Path(__file__).resolve().parent / "contexts"

# The default @context of an OpenBadgeCredential we issue.
CREDENTIAL_CONTEXTS: tuple[str, ...] = (VC_V2, OB_V3)


def context_bytes(url: str) -> bytes:
    """The raw bytes of a bundled context, after checking its pinned hash."""
    return _verified_bytes(url)


@cache
def _verified_bytes(url: str) -> bytes:
    try:
        filename, expected = PINNED_CONTEXTS[url]
    except KeyError:
        raise UnknownContextError(url) from None
    data = (_CONTEXT_DIR / filename).read_bytes()
    actual = hashlib.sha256(data).hexdigest()
    if actual != expected:
        raise ContextIntegrityError(f"bundled context {url!r} has sha256 {actual}, pinned {expected}")
    return data


@cache
def load_context(url: str) -> dict[str, Any]:
    """The parsed JSON of a bundled context (a dict with an ``@context`` entry).

    The returned object is shared and must not be mutated: the fast JSON-LD path keys its caches
    on the identity of these objects.
    """
    doc = json.loads(_verified_bytes(url))
    if not isinstance(doc, dict) or "@context" not in doc:
        raise ContextIntegrityError(f"bundled context {url!r} has no @context")
    return doc


def is_known_context(url: str) -> bool:
    return url in PINNED_CONTEXTS


def document_loader(url: str, options: dict[str, Any] | None = None) -> dict[str, Any]:
    """A pyld document loader serving only bundled contexts.

    Raises :class:`UnknownContextError` (naming the URL) for anything else, so an unknown context is
    an error rather than a network request.
    """
    return {
        "contentType": "application/ld+json",
        "contextUrl": None,
        "documentUrl": url,
        "document": load_context(url),
    }
