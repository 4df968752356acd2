"""JSON-LD to RDF, in JSON-LD safe mode: quads of N-Quads terms, by two paths.

* The fast path, :func:`to_quads`: a direct walk over a compact document in the subset of JSON-LD
  1.1 that credentials use (see :mod:`credentials.jsonld_context`), driven by the contexts'
  conversion plans; blank nodes get provisional labels (``_:b0``, ...). It never guesses: anything
  outside its subset, and anything safe mode would reject, makes it return None.
* The reference path, :func:`expand_safe` and :func:`reference_quads`: pyld's expansion (refusing
  dropped properties and relative IRIs) and pyld's JSON-LD to RDF, for any document; and
  :func:`canonicalize_reference`, pyld's own URDNA2015 canonical form, the oracle tests compare with.

Safe mode: the VC 2.0 context has no ``@vocab``, so plain JSON-LD silently drops an undefined
property (and leaves an undefined type as a relative IRI that RDF cannot hold): that data would look
signed but would not be.

Raises: :func:`to_quads` raises only what loading a context raises
(:class:`~credentials.errors.UnknownContextError` for an unbundled context URL,
:class:`~credentials.errors.ContextIntegrityError` for a bundled one that fails its pin); the
reference path raises :class:`~credentials.errors.UndefinedTermError` naming an undefined property
or type or a relative IRI, those two context errors, and
:class:`~credentials.errors.JsonLdProcessingError` for any other JSON-LD error pyld reports.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from typing import Any, Final

from credentials.contexts import document_loader
from credentials.errors import CredentialError, JsonLdProcessingError, UndefinedTermError
from credentials.jsonld_context import ABSOLUTE_IRI, ID, KEYWORDS, PROPERTY, Context, KeyPlan, top_context
from credentials.nquads import (
    BAD_IRI_CHARS,
    FIRST_TERM,
    NIL_TERM,
    REST_TERM,
    TYPE_TERM,
    XSD_BOOLEAN,
    XSD_DOUBLE,
    XSD_INTEGER,
    XSD_STRING,
    Quad,
    Unsupported,
    escape_iri,
    escape_literal,
    iri_term,
)

# --------------------------------------------------------------------------------------------------
# Fast path: literals
# --------------------------------------------------------------------------------------------------


def _canonical_double(value: float) -> str:
    """xsd:double canonical form exactly as pyld writes it (matching jsonld.js)."""
    return re.sub(r"(\d)0*E\+?(-)?0*(\d)", r"\1E\2\3", f"{value:1.15E}")


def _typed(lexical: str, datatype: str) -> str:
    """A literal term; xsd:string is left implicit, as canonical N-Quads writes it."""
    if datatype == XSD_STRING:
        return f'"{escape_literal(lexical)}"'
    if BAD_IRI_CHARS.search(datatype):
        raise Unsupported(f"datatype IRI {datatype!r}")
    return f'"{escape_literal(lexical)}"^^<{datatype}>'


def _literal(value: Any, datatype: str | None) -> str:
    """The N-Quads literal for a JSON scalar, with pyld's conversion rules."""
    if type(value) is str and datatype != XSD_DOUBLE:  # the common case first
        return _typed(value, datatype or XSD_STRING)
    if isinstance(value, bool):
        return _typed("true" if value else "false", datatype or XSD_BOOLEAN)
    if isinstance(value, float) and not math.isfinite(value):
        raise Unsupported("non-finite number")
    if isinstance(value, float) and not value.is_integer():
        return _typed(_canonical_double(value), datatype or XSD_DOUBLE)
    if datatype == XSD_DOUBLE:
        try:
            return _typed(_canonical_double(float(value)), XSD_DOUBLE)
        except (TypeError, ValueError):
            return _typed(str(value), XSD_DOUBLE)
    if isinstance(value, int | float):
        if abs(value) >= 1e21:
            return _typed(_canonical_double(value), datatype or XSD_DOUBLE)
        return _typed(str(int(value)), datatype or XSD_INTEGER)
    if not isinstance(value, str):
        raise Unsupported("non-JSON value")
    return _typed(value, datatype or XSD_STRING)


# --------------------------------------------------------------------------------------------------
# Fast path: the walk
# --------------------------------------------------------------------------------------------------


class _ToRdf:
    """One conversion of a compact JSON-LD document into RDF quads (default graph only)."""

    __slots__ = ("_bnodes", "_labels", "quads")

    def __init__(self) -> None:
        self.quads: list[Quad] = []
        self._labels: dict[str, str] = {}
        self._bnodes = 0

    def _blank(self) -> str:
        """A fresh provisional blank node label (canonicalization relabels it)."""
        label = f"_:b{self._bnodes}"
        self._bnodes += 1
        return label

    def _resource(self, iri: str) -> str:
        """The term of an expanded IRI; the document's own blank node ids are labelled afresh, one
        label per id, so that they cannot collide with the labels this conversion makes."""
        if iri.startswith("_:"):
            label = self._labels.get(iri)
            if label is None:
                label = self._labels[iri] = self._blank()
            return label
        return iri_term(iri)

    def document(self, doc: dict[str, Any]) -> None:
        """Convert ``doc``, whose ``@context`` must be bundled context URLs (inline ones are refused)."""
        if "@context" not in doc:
            raise Unsupported("no @context")
        self._node(top_context(doc["@context"]), None, doc)

    def _node(self, active: Context, active_property: str | None, element: dict[str, Any]) -> str:
        """The node's subject term, after adding its quads. ``active_property`` is None only for
        the document itself."""
        keys = tuple(element)
        shape = active.shape(active_property, keys)
        names: tuple[str, ...] = ()
        if shape.type_key is not None:
            raw = element[shape.type_key]
            names = tuple(raw) if isinstance(raw, list) else (raw,)
            for name in names:
                if not isinstance(name, str):
                    raise Unsupported("non-string @type")
        body = shape.body(keys, names)
        subject_iri: str | None = None
        pairs: list[tuple[str, str]] = []  # (predicate, object) in key order
        for prop in body.entries:
            kind = prop.kind
            if kind == PROPERTY:
                value = element[prop.key]
                suffix = prop.plain_suffix
                if suffix is not None and type(value) is str:  # the common case: one plain string
                    if not (value.isprintable() and '"' not in value and "\\" not in value):  # is_plain
                        value = escape_literal(value)
                    pairs.append((prop.plain_predicate, f'"{value}"{suffix}'))
                    continue
                objects = self._values(prop, value)
                if objects:
                    predicate = prop.predicate
                    if predicate is None:
                        raise Unsupported(f"IRI of {prop.key!r}")
                    pairs.extend([(predicate, obj) for obj in objects])
            elif kind == ID:
                value = element[prop.key]
                if not isinstance(value, str):
                    raise Unsupported("@id")
                subject_iri = body.ctx.doc_iri(value)
                if subject_iri is None or subject_iri[0] == "@":  # relative, or a keyword ("id": "@type")
                    raise Unsupported(f"relative @id {value!r}")
            else:
                raise Unsupported(prop.error)

        subject = self._resource(subject_iri) if subject_iri is not None else self._blank()
        quads = self.quads
        if names:
            terms = body.type_terms
            if terms is None:
                terms = body.type_terms_for(self._resource)
            quads.extend([(subject, TYPE_TERM, term, "") for term in terms])
        quads.extend([(subject, predicate, obj, "") for predicate, obj in pairs])
        return subject

    def _values(self, prop: KeyPlan, value: Any) -> list[str]:
        """The object terms of one key's value (one term, the list's head, for an ``@list`` key)."""
        items = value if isinstance(value, list) else (value,)
        objects: list[str] = []
        suffix = prop.string_suffix
        for item in items:
            if type(item) is str and suffix is not None:  # the common case first
                if not (item.isprintable() and '"' not in item and "\\" not in item):  # is_plain
                    item = escape_literal(item)
                objects.append(f'"{item}"{suffix}')
            elif item is None:
                continue
            elif isinstance(item, dict):
                objects.append(self._node(prop.ctx, prop.key, item))
            elif isinstance(item, list):
                if prop.is_list:
                    raise Unsupported("list of lists")
                objects.extend(self._values(prop, item))
            else:
                objects.append(self._scalar(prop, item))
        if prop.is_list:
            if value is None:
                return []
            return [self._rdf_list(objects)]
        return objects

    def _scalar(self, prop: KeyPlan, item: Any) -> str:
        """The term of a non-object value: an IRI when the term coerces to ``@id``/``@vocab``, else a literal."""
        coerce = prop.coerce
        if isinstance(item, str) and coerce in ("@id", "@vocab"):
            ctx = prop.ctx
            iri = ctx.doc_iri(item) if coerce == "@id" else ctx.vocab_iri(item)
            if iri is None or iri[0] == "@":
                raise Unsupported(f"relative IRI value {item!r}")
            return self._resource(iri)
        return _literal(item, prop.datatype)

    def _rdf_list(self, objects: list[str]) -> str:
        """Write ``objects`` as an rdf:first/rdf:rest chain; its head (rdf:nil when empty)."""
        if not objects:
            return NIL_TERM
        head = cell = self._blank()
        for index, obj in enumerate(objects):
            self.quads.append((cell, FIRST_TERM, obj, ""))
            nxt = self._blank() if index + 1 < len(objects) else NIL_TERM
            self.quads.append((cell, REST_TERM, nxt, ""))
            cell = nxt
        return head


def to_quads(doc: dict[str, Any]) -> list[Quad] | None:
    """Quads of ``doc`` by the fast path, or None when the document needs the reference path."""
    converter = _ToRdf()
    try:
        converter.document(doc)
    except Unsupported:
        return None
    return converter.quads


# --------------------------------------------------------------------------------------------------
# Reference path (pyld)
# --------------------------------------------------------------------------------------------------


# What pyld needs: only bundled contexts, and no base IRI, so that relative IRIs stay relative (and
# are caught) instead of being resolved against pyld's made-up default base.
_PYLD_OPTIONS: Final[dict[str, Any]] = {"documentLoader": document_loader, "base": None}


def _unwrap_pyld_error(exc: BaseException) -> CredentialError:
    """pyld wraps document-loader errors; surface ours, otherwise describe the JSON-LD error."""
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        if isinstance(cur, CredentialError):
            return cur
        nxt = cur.__cause__ or cur.__context__ or getattr(cur, "cause", None)
        cur = nxt if isinstance(nxt, BaseException) else None
    msg = str(getattr(exc, "message", None) or exc).splitlines()[0]
    code = getattr(exc, "code", None)
    return JsonLdProcessingError(f"invalid JSON-LD: {msg}" + (f" ({code})" if code else ""))


def _is_abs(value: object) -> bool:
    """Whether ``value`` is an absolute IRI (or a blank node id) by pyld's own test."""
    return isinstance(value, str) and ABSOLUTE_IRI.match(value) is not None


def _check_expanded(items: Any) -> None:
    """Reject relative IRIs left in an expanded document (undefined types, relative ids)."""
    if isinstance(items, list):
        for item in items:
            _check_expanded(item)
        return
    if not isinstance(items, dict):
        return
    if "@value" in items:
        return
    node_id = items.get("@id")
    if node_id is not None and not _is_abs(node_id):
        raise UndefinedTermError(
            str(node_id), "it is used as an identifier but is a relative IRI (not an absolute IRI)"
        )
    for type_ in items.get("@type", []):
        if not _is_abs(type_):
            raise UndefinedTermError(str(type_), "type is not defined, so it expands to a relative IRI")
    for key, value in items.items():
        if key in ("@id", "@type"):
            continue
        if key == "@reverse" and isinstance(value, dict):
            _check_expanded(list(value.values()))
        else:
            _check_expanded(value)


def _keyword_like_keys(doc: Any) -> Iterable[str]:
    """Keys shaped like keywords that are not keywords: pyld drops them without naming them."""
    if isinstance(doc, dict):
        for key, value in doc.items():
            if key.startswith("@") and key not in KEYWORDS:
                yield key
            yield from _keyword_like_keys(value)
    elif isinstance(doc, list):
        for item in doc:
            yield from _keyword_like_keys(item)


def expand_safe(doc: dict[str, Any]) -> list[Any]:
    """Expand ``doc`` with pyld, refusing any property or type that its contexts do not define."""
    dropped: list[str | None] = []
    from pyld import jsonld  # loaded by the reference path only: the fast path never needs it

    try:
        expanded: list[Any] = jsonld.expand(doc, dict(_PYLD_OPTIONS), on_property_dropped=dropped.append)
    except CredentialError:
        raise
    except Exception as exc:  # pyld raises JsonLdError and wraps loader errors in it
        raise _unwrap_pyld_error(exc) from exc
    if dropped:
        term = dropped[0] if dropped[0] is not None else next(iter(_keyword_like_keys(doc)), "@?")
        raise UndefinedTermError(term, "no context defines this property, so it would be dropped unsigned")
    _check_expanded(expanded)
    return expanded


def canonicalize_reference(doc: dict[str, Any]) -> str:
    """Canonical N-Quads of ``doc`` computed entirely by pyld (URDNA2015 = RDFC-1.0 with SHA-256).

    The independent oracle the fast path is tested against. pyld escapes only \\t \\n \\r " \\ in
    literals, so on other control characters it differs from RDFC-1.0 (and from jsonld.js).
    """
    expanded = expand_safe(doc)
    from pyld import jsonld  # loaded by the reference path only: the fast path never needs it

    try:
        out: str = jsonld.normalize(
            expanded, {**_PYLD_OPTIONS, "algorithm": "URDNA2015", "format": "application/n-quads"}
        )
    except Exception as exc:
        raise _unwrap_pyld_error(exc) from exc
    return out


def _pyld_term(term: dict[str, Any]) -> str:
    """The N-Quads term of one of pyld's RDF term objects, escaped as RDFC-1.0 escapes."""
    kind = term["type"]
    if kind == "IRI":
        return f"<{escape_iri(term['value'])}>"
    if kind == "blank node":
        value: str = term["value"]
        return value
    text = f'"{escape_literal(term["value"])}"'
    if term.get("language"):
        return f"{text}@{term['language']}"
    datatype = term.get("datatype") or XSD_STRING
    return text if datatype == XSD_STRING else f"{text}^^<{escape_iri(datatype)}>"


def reference_quads(doc: dict[str, Any]) -> list[Quad]:
    """Quads of ``doc`` by pyld in safe mode (named graphs included), for documents outside the fast
    path; raises what :func:`expand_safe` raises."""
    expanded = expand_safe(doc)
    from pyld import jsonld  # loaded by the reference path only: the fast path never needs it

    try:
        dataset = jsonld.to_rdf(expanded, dict(_PYLD_OPTIONS))
    except Exception as exc:
        raise _unwrap_pyld_error(exc) from exc
    quads: list[Quad] = []
    for graph_name, triples in dataset.items():
        graph = (
            ""
            if graph_name == "@default"
            else (graph_name if graph_name.startswith("_:") else f"<{escape_iri(graph_name)}>")
        )
        quads.extend(
            (_pyld_term(t["subject"]), _pyld_term(t["predicate"]), _pyld_term(t["object"]), graph) for t in triples
        )
    return quads
