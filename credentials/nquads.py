"""N-Quads terms and lines, written as RDFC-1.0 writes them (the vocabulary of the other modules).

A quad is a tuple of four N-Quads term strings (:data:`Quad`); this module holds the RDF and XSD
IRIs the conversion uses, the escaping of literals and IRIs, the IRI term writer and
:class:`Unsupported`, the fast path's signal that a document is outside its subset.

Raises: :func:`iri_term` raises :class:`Unsupported` for an IRI holding characters N-Quads cannot
write; nothing else here raises. :class:`Unsupported` never leaves :mod:`credentials.canon`, which
hands such documents to the reference path.
"""

from __future__ import annotations

import re
from typing import Final

RDF_TYPE: Final = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"
RDF_FIRST: Final = "http://www.w3.org/1999/02/22-rdf-syntax-ns#first"
RDF_REST: Final = "http://www.w3.org/1999/02/22-rdf-syntax-ns#rest"
RDF_NIL: Final = "http://www.w3.org/1999/02/22-rdf-syntax-ns#nil"
XSD: Final = "http://www.w3.org/2001/XMLSchema#"
XSD_STRING: Final = XSD + "string"
XSD_BOOLEAN: Final = XSD + "boolean"
XSD_INTEGER: Final = XSD + "integer"
XSD_DOUBLE: Final = XSD + "double"

# Quads are tuples of N-Quads term strings: ("<iri>" | "_:bN", "<iri>", "<iri>" | "_:bN" | literal).
# Blank node labels are provisional ("_:b0", ...) until canonicalization relabels them.
Quad = tuple[str, str, str, str]  # subject, predicate, object, graph ("" for the default graph)

TYPE_TERM: Final = f"<{RDF_TYPE}>"
FIRST_TERM: Final = f"<{RDF_FIRST}>"
REST_TERM: Final = f"<{RDF_REST}>"
NIL_TERM: Final = f"<{RDF_NIL}>"
# Characters that cannot appear in an IRI; pyld would pass them through, pyoxigraph would refuse
# them: such documents go to the reference path so that both paths keep the same answer.
BAD_IRI_CHARS: Final = re.compile(r'[<>"{}|^`\\\x00-\x20]')

# Bounds of the IRI caches (here and in the contexts): documents are untrusted, up to 1 MiB, so
# longer strings are expanded every time and the caches stop growing when full.
IRI_CACHE_LIMIT: Final = 4096
IRI_CACHE_CHARS: Final = 512

_LITERAL_ESCAPES = {chr(c): f"\\u{c:04X}" for c in [*range(0x20), 0x7F]}
_LITERAL_ESCAPES.update({"\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r", '"': '\\"', "\\": "\\\\"})
_LITERAL_ESCAPE_RE = re.compile(r'[\x00-\x1f\x7f"\\]')
_IRI_ESCAPE_RE = re.compile(r'[\x00-\x20<>"{}|^`\\]')


class Unsupported(Exception):
    """The fast path met something outside its subset (or something safe mode rejects)."""


def escape_literal(value: str) -> str:
    """Escape a literal as canonical N-Quads (RDFC-1.0): ECHAR for \\b \\t \\n \\f \\r " \\, UCHAR for
    other control characters. This is what rdf-canonize (jsonld.js) and pyoxigraph write; pyld
    escapes only \\t \\n \\r " \\ and so differs on other control characters."""
    if _LITERAL_ESCAPE_RE.search(value) is None:
        return value
    return _LITERAL_ESCAPE_RE.sub(lambda m: _LITERAL_ESCAPES[m.group()], value)


def escape_iri(value: str) -> str:
    """Escape an IRI as N-Quads UCHARs (for IRIs pyld produced, which it does not check)."""
    if _IRI_ESCAPE_RE.search(value) is None:
        return value
    return _IRI_ESCAPE_RE.sub(lambda m: f"\\u{ord(m.group()):04X}", value)


def is_plain(value: str) -> bool:
    """True when ``escape_literal(value)`` is ``value``: no control character (all are unprintable),
    quote or backslash. Inlined where literals are written (the test is cheaper than the call)."""
    return value.isprintable() and '"' not in value and "\\" not in value


_IRI_TERMS: dict[str, str] = {}


def iri_term(iri: str) -> str:
    """``<iri>``, cached; raises :class:`Unsupported` when ``iri`` has characters an IRI cannot hold."""
    term = _IRI_TERMS.get(iri)
    if term is None:
        if BAD_IRI_CHARS.search(iri):
            raise Unsupported(f"IRI {iri!r}")
        term = f"<{iri}>"
        if len(_IRI_TERMS) < IRI_CACHE_LIMIT and len(iri) <= IRI_CACHE_CHARS:
            _IRI_TERMS[iri] = term
    return term


def nquad_line(s: str, p: str, o: str, g: str) -> str:
    """One N-Quads line of terms (``g`` is "" for the default graph)."""
    return f"{s} {p} {o} {g} .\n" if g else f"{s} {p} {o} .\n"
