"""JSON-LD to RDF and RDF Dataset Canonicalization (RDFC-1.0), with JSON-LD "safe mode".

Two implementations produce the same canonical N-Quads:

* the reference path: pyld expansion (with a handler for dropped properties) and pyld's URDNA2015,
  which is RDFC-1.0 for SHA-256;
* the fast path: a direct JSON-LD-to-RDF walk over the subset of JSON-LD 1.1 that credentials use
  (term definitions with ``@id``/``@type``/``@container`` ``@set``/``@list``, type- and property-scoped
  contexts, ``@protected``, compact IRIs), with processed contexts cached and, per context, compiled
  conversion plans (how a key, a node's keys, a node's types convert: see :class:`_Prop`), and our
  RDFC-1.0 (pyoxigraph's canonicalizer is kept as an oracle for tests).

The fast path never guesses: anything outside its subset, and anything safe mode would reject, makes
it hand the document to the reference path, which then either produces the result or raises the
precise error. Tests check both paths agree on the standard's test vector and on generated and
mutated credentials.

Safe mode: the VC 2.0 context has no ``@vocab``, so plain JSON-LD silently drops an undefined property
(and leaves an undefined type as a relative IRI that RDF cannot hold): that data would look signed but
would not be. Both paths refuse such documents with :class:`UndefinedTermError` naming the term.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import re
from collections.abc import Callable, Iterable
from numbers import Integral, Real
from typing import Any, Final

import pyoxigraph as ox
from pyld import jsonld

from credentials.contexts import document_loader, load_context
from credentials.errors import CredentialError, JsonLdProcessingError, UndefinedTermError

RDF_TYPE: Final = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"
RDF_FIRST: Final = "http://www.w3.org/1999/02/22-rdf-syntax-ns#first"
RDF_REST: Final = "http://www.w3.org/1999/02/22-rdf-syntax-ns#rest"
RDF_NIL: Final = "http://www.w3.org/1999/02/22-rdf-syntax-ns#nil"
XSD: Final = "http://www.w3.org/2001/XMLSchema#"
XSD_STRING: Final = XSD + "string"
XSD_BOOLEAN: Final = XSD + "boolean"
XSD_INTEGER: Final = XSD + "integer"
XSD_DOUBLE: Final = XSD + "double"

KEYWORDS: Final = frozenset(
    {
        "@base", "@container", "@context", "@default", "@direction", "@embed", "@explicit", "@graph",
        "@id", "@import", "@included", "@index", "@json", "@language", "@list", "@nest", "@none",
        "@omitDefault", "@prefix", "@preserve", "@propagate", "@protected", "@requireAll", "@reverse",
        "@set", "@type", "@value", "@version", "@vocab",
    }
)  # fmt: skip
_KEYWORD_LIKE = re.compile(r"^@[a-zA-Z]+$")
# Same test as pyld's _is_absolute_iri (including its quirky "+-." range), so both paths agree.
_ABSOLUTE_IRI = re.compile(r"^([A-Za-z][A-Za-z0-9+-.]*|_):[^\s]*$")
_PREFIX_IRI_END = re.compile(r".*[:/\?#\[\]@]$")

# What pyld needs: only bundled contexts, and no base IRI, so that relative IRIs stay relative (and
# are caught) instead of being resolved against pyld's made-up default base.
_PYLD_OPTIONS: Final[dict[str, Any]] = {"documentLoader": document_loader, "base": None}


# --------------------------------------------------------------------------------------------------
# Reference path (pyld)
# --------------------------------------------------------------------------------------------------


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
    return isinstance(value, str) and _ABSOLUTE_IRI.match(value) is not None


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
    try:
        out: str = jsonld.normalize(
            expanded, {**_PYLD_OPTIONS, "algorithm": "URDNA2015", "format": "application/n-quads"}
        )
    except Exception as exc:
        raise _unwrap_pyld_error(exc) from exc
    return out


# --------------------------------------------------------------------------------------------------
# Fast path: processed contexts
# --------------------------------------------------------------------------------------------------


class _Unsupported(Exception):
    """The fast path met something outside its subset (or something safe mode rejects)."""


_NO_CONTEXT: Final[Any] = object()
_ALLOWED_DEF_KEYS = frozenset({"@id", "@type", "@container", "@context", "@protected"})
_ALLOWED_CONTAINERS: tuple[frozenset[str], ...] = (frozenset(), frozenset({"@set"}), frozenset({"@list"}))
_IRI_CACHE_LIMIT = 4096
_IRI_CACHE_CHARS = 512  # longer strings (documents are untrusted, up to 1 MiB) are expanded every time


class _Term:
    """A processed term definition (the fields pyld compares when a protected term is redefined)."""

    __slots__ = ("container", "context", "iri", "is_list", "prefix", "protected", "supported", "type")

    def __init__(self, iri: str, type_: str | None, container: frozenset[str], context: Any, prefix: bool) -> None:
        self.iri = iri
        self.type = type_
        self.container = container
        self.is_list = "@list" in container
        # Terms with other containers (e.g. the VC context's @graph "proof") may be defined, but the
        # fast path does not expand their values.
        self.supported = container in _ALLOWED_CONTAINERS
        self.context = context
        self.prefix = prefix
        self.protected = False

    def same_definition(self, other: _Term) -> bool:
        return (self.iri, self.type, self.container, self.prefix) == (
            other.iri,
            other.type,
            other.container,
            other.prefix,
        ) and (self.context is other.context or self.context == other.context)


class _Ctx:
    """An active context. Immutable once built; derived contexts and IRI expansions are cached."""

    __slots__ = (
        "_derived",
        "_doc_iris",
        "_props",
        "_shapes",
        "_vocab_iris",
        "previous",
        "terms",
        "vocab",
    )

    def __init__(self, terms: dict[str, _Term], vocab: str | None, previous: _Ctx | None) -> None:
        self.terms = terms
        self.vocab = vocab
        self.previous = previous
        self._derived: dict[tuple[int, bool, bool], tuple[Any, _Ctx]] = {}
        self._vocab_iris: dict[str, str | None] = {}
        self._doc_iris: dict[str, str | None] = {}
        # Conversion plans (see _Prop), filled only once the context is complete.
        self._props: dict[str, _Prop] = {}
        self._shapes: dict[tuple[str | None, tuple[str, ...]], _Shape] = {}

    def clone(self) -> _Ctx:
        return _Ctx(dict(self.terms), self.vocab, self.previous)

    # -- IRI expansion (mirrors pyld's _expand_iri with base=None) --

    def _expand(self, value: str, vocab: bool) -> str | None:
        if value in KEYWORDS:
            return value
        if value.startswith("@") and _KEYWORD_LIKE.match(value):
            return None
        if vocab:
            term = self.terms.get(value)
            if term is not None:
                return term.iri
        colon = value.find(":")
        if colon > 0:
            prefix, suffix = value[:colon], value[colon + 1 :]
            if prefix == "_" or suffix.startswith("//"):
                return value if _ABSOLUTE_IRI.match(value) else None
            pterm = self.terms.get(prefix)
            if pterm is not None and pterm.prefix:
                iri = pterm.iri + suffix
                return iri if _ABSOLUTE_IRI.match(iri) else None
            if _ABSOLUTE_IRI.match(value):
                return value
        if vocab and self.vocab is not None:
            return self.vocab + value
        return None  # relative: safe mode rejects it

    def vocab_iri(self, value: str) -> str | None:
        try:
            return self._vocab_iris[value]
        except KeyError:
            iri = self._expand(value, vocab=True)
            if len(self._vocab_iris) < _IRI_CACHE_LIMIT and len(value) <= _IRI_CACHE_CHARS:
                self._vocab_iris[value] = iri
            return iri

    def doc_iri(self, value: str) -> str | None:
        try:
            return self._doc_iris[value]
        except KeyError:
            iri = self._expand(value, vocab=False)
            if len(self._doc_iris) < _IRI_CACHE_LIMIT and len(value) <= _IRI_CACHE_CHARS:
                self._doc_iris[value] = iri
            return iri

    def prop(self, key: str) -> _Prop:
        """How ``key``'s values convert in this context (see :class:`_Prop`)."""
        found = self._props.get(key)
        if found is None:
            found = _Prop(self, key)
            if _keep_plan(self, len(key)):
                self._props[key] = found
        return found

    def shape(self, active_property: str | None, keys: tuple[str, ...]) -> _Shape:
        """How a node with ``keys`` held by ``active_property`` enters this context (see :class:`_Shape`)."""
        cache_key = (active_property, keys)
        found = self._shapes.get(cache_key)
        if found is None:
            found = _Shape(self, active_property, keys)
            if _keep_plan(self, sum(map(len, keys)) + len(active_property or "")):
                self._shapes[cache_key] = found
                found.kept = True
        return found

    # -- context processing --

    def derive(self, local: Any, *, propagate: bool = True, override_protected: bool = False) -> _Ctx:
        key = (id(local), propagate, override_protected)
        hit = self._derived.get(key)
        if hit is not None and hit[0] is local:
            return hit[1]
        result = _process_context(self, local, propagate, override_protected)
        # Keep `local` alive with the entry, so its id cannot be reused by another object.
        self._derived[key] = (local, result)
        return result


def _process_context(active: _Ctx, local: Any, propagate: bool, override_protected: bool) -> _Ctx:
    locals_ = local if isinstance(local, list) else [local]
    if not locals_:
        return active.clone()
    first = locals_[0]
    if isinstance(first, dict) and "@propagate" in first:
        raise _Unsupported("@propagate")
    rval = active
    if not propagate and rval.previous is None:
        rval = rval.clone()
        rval.previous = active
    for item in locals_:
        if isinstance(item, dict) and "@context" in item:
            item = item["@context"]
        if isinstance(item, str):
            item = load_context(item)["@context"]  # raises UnknownContextError for unbundled URLs
            if isinstance(item, list):
                rval = _process_context(rval, item, True, override_protected)
                continue
        if not isinstance(item, dict):
            raise _Unsupported("context that is not an object")
        rval = _apply_local_context(rval, item, override_protected)
    return rval


def _apply_local_context(active: _Ctx, local: dict[str, Any], override_protected: bool) -> _Ctx:
    result = active.clone()
    for key, value in local.items():
        if key == "@version":
            if value != 1.1:
                raise _Unsupported("@version")
        elif key == "@vocab":
            if not isinstance(value, str) or not _ABSOLUTE_IRI.match(value):
                raise _Unsupported("@vocab")
            result.vocab = value
        elif key == "@protected":
            if not isinstance(value, bool):
                raise _Unsupported("@protected")
        elif key.startswith("@"):
            raise _Unsupported(key)
    defined: dict[str, bool] = {}
    for term in local:
        if not term.startswith("@"):
            _define_term(result, local, term, defined, override_protected)
    return result


def _expand_in_definition(
    ctx: _Ctx, local: dict[str, Any], value: str, defined: dict[str, bool], override: bool
) -> str:
    """Expand an IRI inside a context, defining the terms it depends on first (vocab-relative)."""
    if value in local and not defined.get(value):
        _define_term(ctx, local, value, defined, override)
    colon = value.find(":")
    if colon > 0:
        prefix = value[:colon]
        if prefix in local and not defined.get(prefix):
            _define_term(ctx, local, prefix, defined, override)
    iri = ctx._expand(value, vocab=True)
    if iri is None or iri in KEYWORDS:
        raise _Unsupported(f"context IRI {value!r}")
    return iri


def _define_term(ctx: _Ctx, local: dict[str, Any], term: str, defined: dict[str, bool], override: bool) -> None:
    state = defined.get(term)
    if state is True:
        return
    if state is False:
        raise _Unsupported("cyclic term definition")
    defined[term] = False
    value = local[term]
    if term == "" or ":" in term or "/" in term:
        raise _Unsupported(f"term {term!r}")
    simple = isinstance(value, str)
    if simple:
        defn: dict[str, Any] = {"@id": value}
    elif isinstance(value, dict) and _ALLOWED_DEF_KEYS.issuperset(value):
        defn = value
    else:
        raise _Unsupported(f"definition of {term!r}")

    if "@id" in defn:
        id_ = defn["@id"]
        if not isinstance(id_, str):
            raise _Unsupported(f"@id of {term!r}")
        if id_ in KEYWORDS:
            if id_ in ("@context", "@preserve"):
                raise _Unsupported("keyword alias")
            iri = id_
        elif id_.startswith("@"):
            raise _Unsupported(f"@id of {term!r}")
        else:
            iri = _expand_in_definition(ctx, local, id_, defined, override)
    elif ctx.vocab is not None:
        iri = ctx.vocab + term
    else:
        raise _Unsupported(f"no IRI for {term!r}")

    prefix = simple and iri not in KEYWORDS and (iri.startswith("_:") or _PREFIX_IRI_END.match(iri) is not None)

    type_: str | None = None
    if "@type" in defn:
        raw_type = defn["@type"]
        if not isinstance(raw_type, str) or raw_type == "@none":
            raise _Unsupported(f"@type of {term!r}")
        if raw_type in ("@id", "@vocab", "@json"):
            type_ = raw_type
        else:
            type_ = _expand_in_definition(ctx, local, raw_type, defined, override)

    raw_container = defn.get("@container")
    container = frozenset(
        raw_container if isinstance(raw_container, list) else ([] if raw_container is None else [raw_container])
    )

    scoped = defn.get("@context", _NO_CONTEXT)
    if scoped is None:
        raise _Unsupported(f"null scoped context of {term!r}")

    mapping = _Term(iri, type_, container, scoped, prefix)
    protected_flag = defn.get("@protected")
    mapping.protected = bool(protected_flag) or (bool(local.get("@protected")) and protected_flag is not False)
    previous = ctx.terms.get(term)
    if previous is not None and previous.protected and not override:
        if not previous.same_definition(mapping):
            raise _Unsupported(f"protected term {term!r} redefined")
        mapping.protected = True
    ctx.terms[term] = mapping
    defined[term] = True


_INITIAL = _Ctx({}, None, None)
_TOP_CONTEXTS: dict[tuple[str, ...], _Ctx] = {}


def _top_context(raw: Any) -> _Ctx:
    """The active context of a document whose ``@context`` is a URL or a list of URLs (cached)."""
    if isinstance(raw, str):
        key: tuple[str, ...] = (raw,)
    elif isinstance(raw, list) and raw and all(isinstance(u, str) for u in raw):
        key = tuple(raw)
    else:
        raise _Unsupported("inline or missing @context")
    ctx = _TOP_CONTEXTS.get(key)
    if ctx is None:
        ctx = _INITIAL
        for url in key:
            ctx = ctx.derive(load_context(url)["@context"])
        if len(_TOP_CONTEXTS) < 64:
            _TOP_CONTEXTS[key] = ctx
    return ctx


# --------------------------------------------------------------------------------------------------
# Fast path: JSON-LD to RDF
# --------------------------------------------------------------------------------------------------

# Quads are tuples of N-Quads term strings: ("<iri>" | "_:bN", "<iri>", "<iri>" | "_:bN" | literal).
# Blank node labels are provisional ("_:b0", ...) until canonicalization relabels them.
Quad = tuple[str, str, str, str]  # subject, predicate, object, graph ("" for the default graph)

_TYPE_TERM = f"<{RDF_TYPE}>"
_FIRST_TERM = f"<{RDF_FIRST}>"
_REST_TERM = f"<{RDF_REST}>"
_NIL_TERM = f"<{RDF_NIL}>"
# Characters that cannot appear in an IRI; pyld would pass them through, pyoxigraph would refuse
# them: such documents go to the reference path so that both paths keep the same answer.
_BAD_IRI_CHARS = re.compile(r'[<>"{}|^`\\\x00-\x20]')


def _canonical_double(value: float) -> str:
    """xsd:double canonical form exactly as pyld writes it (matching jsonld.js)."""
    return re.sub(r"(\d)0*E\+?(-)?0*(\d)", r"\1E\2\3", f"{value:1.15E}")


def _is_integer(value: object) -> bool:
    return isinstance(value, Integral) or (isinstance(value, Real) and float(value).is_integer())


_LITERAL_ESCAPES = {chr(c): f"\\u{c:04X}" for c in [*range(0x20), 0x7F]}
_LITERAL_ESCAPES.update({"\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r", '"': '\\"', "\\": "\\\\"})
_LITERAL_ESCAPE_RE = re.compile(r'[\x00-\x1f\x7f"\\]')
_IRI_ESCAPE_RE = re.compile(r'[\x00-\x20<>"{}|^`\\]')


def _escape(value: str) -> str:
    """Escape a literal as canonical N-Quads (RDFC-1.0): ECHAR for \\b \\t \\n \\f \\r " \\, UCHAR for
    other control characters. This is what rdf-canonize (jsonld.js) and pyoxigraph write; pyld
    escapes only \\t \\n \\r " \\ and so differs on other control characters."""
    if _LITERAL_ESCAPE_RE.search(value) is None:
        return value
    return _LITERAL_ESCAPE_RE.sub(lambda m: _LITERAL_ESCAPES[m.group()], value)


def _escape_iri(value: str) -> str:
    if _IRI_ESCAPE_RE.search(value) is None:
        return value
    return _IRI_ESCAPE_RE.sub(lambda m: f"\\u{ord(m.group()):04X}", value)


def _typed(lexical: str, datatype: str) -> str:
    if datatype == XSD_STRING:
        return f'"{_escape(lexical)}"'
    if _BAD_IRI_CHARS.search(datatype):
        raise _Unsupported(f"datatype IRI {datatype!r}")
    return f'"{_escape(lexical)}"^^<{datatype}>'


def _literal(value: Any, datatype: str | None) -> str:
    """The N-Quads literal for a JSON scalar, with pyld's conversion rules."""
    if type(value) is str and datatype != XSD_DOUBLE:  # the common case first
        return _typed(value, datatype or XSD_STRING)
    if isinstance(value, bool):
        return _typed("true" if value else "false", datatype or XSD_BOOLEAN)
    if isinstance(value, float) and not math.isfinite(value):
        raise _Unsupported("non-finite number")
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
        raise _Unsupported("non-JSON value")
    return _typed(value, datatype or XSD_STRING)


# Plans: how a node or a key converts in one active context. Each is a pure function of the
# (immutable) context and of the JSON keys or type names involved, so it is computed once per
# context and reused by every later document; per document only the values are looked at. A key
# the fast path cannot handle is planned as an error entry, raised when the conversion reaches it,
# so the conversion fails at the same point as a walk that looked everything up as it went.
# Plans are keyed by JSON keys and type names, which come from untrusted documents: plans of long
# keys are not kept, and all the plans kept (in every context) are at most _PLAN_LIMIT; when that
# budget is spent they are all dropped and planned again as documents need them. Memory stays
# bounded whatever comes in, and the plans real documents need come back at once.
_PLAN_LIMIT = 10_000
_PLAN_KEY_CHARS = 1024
_planned: set[_Ctx] = set()  # contexts holding kept plans
_plans_kept = 0


def _keep_plan(holder: _Ctx | None, chars: int) -> bool:
    """Whether a new plan over keys of ``chars`` characters may be kept by ``holder`` (None: kept
    inside a plan a context holds)."""
    global _plans_kept
    if _PLAN_LIMIT <= 0 or chars > _PLAN_KEY_CHARS:
        return False
    if _plans_kept >= _PLAN_LIMIT:
        _drop_plans()
    if holder is not None:
        _planned.add(holder)
    _plans_kept += 1
    return True


def _drop_plans() -> None:
    global _plans_kept
    for ctx in _planned:
        ctx._props.clear()
        ctx._shapes.clear()
    _planned.clear()
    _plans_kept = 0


_PROPERTY: Final = 0
_ID: Final = 1
_ERROR: Final = 2
_TYPE: Final = 3  # collected by the node before its body, so not in the body's entries
_SKIP: Final = 4  # "@context" (the node's shape refuses it below the document node)


class _Prop:
    """How one key of a node converts in the node's final context (after reverting type-scoped
    contexts and applying the property- and type-scoped ones)."""

    __slots__ = (
        "coerce",
        "ctx",
        "error",
        "is_list",
        "key",
        "kind",
        "plain_predicate",
        "plain_suffix",
        "predicate",
        "string_suffix",
    )

    def __init__(self, active: _Ctx, key: str) -> None:
        self.key = key
        self.kind = _PROPERTY
        self.ctx = active  # values are expanded here (with the key's scoped context, if any)
        self.error = ""
        self.is_list = False
        self.predicate: str | None = None
        self.coerce: str | None = None
        # What follows the quoted text of a string value ("" or "^^<datatype>"); None when strings
        # need more than that (coercion to an IRI or to xsd:double, or a datatype to refuse).
        self.string_suffix: str | None = None
        # string_suffix for a value that is one string written as one literal object (not a list
        # term, and a predicate that can be written); None otherwise.
        self.plain_suffix: str | None = None
        self.plain_predicate = ""
        try:
            self._plan(active, key)
        except _Unsupported as exc:
            self.kind, self.error = _ERROR, str(exc)
        if self.kind == _PROPERTY and not self.is_list and self.predicate is not None:
            self.plain_suffix, self.plain_predicate = self.string_suffix, self.predicate

    def _plan(self, active: _Ctx, key: str) -> None:
        if key == "@context":
            self.kind = _SKIP
            return
        expanded = active.vocab_iri(key)
        if expanded is None:
            raise _Unsupported(f"undefined term {key!r}")
        if expanded[0] == "@":
            if expanded == "@id":
                self.kind = _ID
            elif expanded == "@type":
                self.kind = _TYPE
            else:
                raise _Unsupported(f"keyword {expanded}")
            return
        if expanded.startswith("_:"):
            raise _Unsupported("blank node predicate")
        self._plan_values(active, key, expanded)

    def _plan_values(self, active: _Ctx, key: str, expanded: str) -> None:
        term = active.terms.get(key)
        if term is not None:
            if term.type == "@json" or not term.supported:
                raise _Unsupported(f"value of {key!r}")
            if term.context is not _NO_CONTEXT:
                self.ctx = active.derive(term.context, propagate=True, override_protected=True)
            self.is_list = term.is_list
        try:
            self.predicate = _named(expanded)
        except _Unsupported:
            self.predicate = None  # refused only if the key has values (an empty one writes nothing)
        # Scalars are coerced with the term as defined in the property's context.
        sterm = self.ctx.terms.get(key, term)
        self.coerce = sterm.type if sterm is not None else None
        datatype = self.datatype
        if self.coerce in ("@id", "@vocab") or datatype == XSD_DOUBLE:
            self.string_suffix = None
        elif datatype is None or datatype == XSD_STRING:
            self.string_suffix = ""
        elif not _BAD_IRI_CHARS.search(datatype):
            self.string_suffix = f"^^<{datatype}>"

    @property
    def datatype(self) -> str | None:
        return self.coerce if self.coerce not in (None, "@id", "@vocab") else None


class _Shape:
    """How a node with given keys, held by a given property, enters its context: the context after
    reverting a type-scoped context and applying the property-scoped one, and its @type key; with
    its body plans by type names (the type-scoped contexts they apply)."""

    __slots__ = ("bodies", "ctx", "kept", "type_key")

    def __init__(self, active: _Ctx, active_property: str | None, keys: tuple[str, ...]) -> None:
        # Property-scoped context of the property holding this node (looked up before reverting).
        scoped: Any = _NO_CONTEXT
        if active_property is not None:
            term = active.terms.get(active_property)
            if term is not None:
                scoped = term.context
        # Type-scoped contexts do not propagate into nested nodes, except into a bare reference.
        if active.previous is not None and not (len(keys) == 1 and active.vocab_iri(keys[0]) == "@id"):
            if len(keys) <= 2 and any(active.vocab_iri(k) == "@value" for k in keys):
                raise _Unsupported("value object")
            active = active.previous
        if scoped is not _NO_CONTEXT:
            active = active.derive(scoped, propagate=True, override_protected=True)
        if "@context" in keys and active_property is not None:  # only the document node may have one
            raise _Unsupported("embedded @context")
        type_keys = [key for key in keys if active.vocab_iri(key) == "@type"]
        if len(type_keys) > 1:
            # pyld visits keys in sorted order, and later keys see earlier type-scoped contexts
            raise _Unsupported("several keys alias @type")
        self.ctx = active
        self.type_key = type_keys[0] if type_keys else None
        self.bodies: dict[tuple[str, ...], _Body] = {}
        self.kept = False  # whether a context keeps this plan (and so its bodies are worth keeping)

    def body(self, keys: tuple[str, ...], names: tuple[str, ...]) -> _Body:
        found = self.bodies.get(names)
        if found is None:
            found = _Body(self.ctx, keys, names)
            if self.kept and _keep_plan(None, sum(map(len, names))):  # kept by this shape
                self.bodies[names] = found
        return found


class _Body:
    """How the keys of a node with given types convert: its final context (type-scoped contexts
    applied, in sorted order as pyld does), its @id and properties in key order, its type IRIs."""

    __slots__ = ("ctx", "entries", "names", "type_iris", "type_scoped", "type_terms")

    def __init__(self, type_scoped: _Ctx, keys: tuple[str, ...], names: tuple[str, ...]) -> None:
        active = type_scoped
        for name in sorted(names):
            tterm = type_scoped.terms.get(name)
            if tterm is not None and tterm.context is not _NO_CONTEXT:
                active = active.derive(tterm.context, propagate=False)
        self.ctx = active
        self.type_scoped = type_scoped
        self.names = names
        self.type_iris: tuple[str, ...] | None = None  # computed after the first body's properties
        self.type_terms: tuple[str, ...] | None = None
        entries: list[_Prop] = []
        seen_id = False
        for key in keys:
            prop = active.prop(key)
            if prop.kind == _ID:
                if seen_id:  # two keys alias @id
                    prop = _Prop.__new__(_Prop)
                    prop.key, prop.kind, prop.error = key, _ERROR, "@id"
                seen_id = True
            if prop.kind in (_PROPERTY, _ID, _ERROR):
                entries.append(prop)
        self.entries = tuple(entries)

    def types(self) -> tuple[str, ...]:
        iris = self.type_iris
        if iris is None:
            found = []
            for name in self.names:
                type_iri = self.type_scoped.vocab_iri(name)
                if type_iri is None or type_iri[0] == "@":
                    raise _Unsupported(f"undefined type {name!r}")
                found.append(type_iri)
            iris = self.type_iris = tuple(found)
        return iris

    def type_terms_for(self, resource: Callable[[str], str]) -> tuple[str, ...]:
        """The N-Quads terms of the node's types, through the conversion's ``resource`` (which
        labels blank node types per document); kept when every type is an IRI."""
        iris = self.types()
        terms = tuple(resource(iri) for iri in iris)
        if not any(iri.startswith("_:") for iri in iris):
            self.type_terms = terms
        return terms


def _is_plain(value: str) -> bool:
    """True when ``_escape(value)`` is ``value``: no control character (all are unprintable), quote
    or backslash. Inlined where literals are written (the test is cheaper than the expression)."""
    return value.isprintable() and '"' not in value and "\\" not in value


class _ToRdf:
    """One conversion of a compact JSON-LD document into RDF quads (default graph only)."""

    __slots__ = ("_bnodes", "_labels", "quads")

    def __init__(self) -> None:
        self.quads: list[Quad] = []
        self._labels: dict[str, str] = {}
        self._bnodes = 0

    def _blank(self) -> str:
        label = f"_:b{self._bnodes}"
        self._bnodes += 1
        return label

    def _resource(self, iri: str) -> str:
        if iri.startswith("_:"):
            label = self._labels.get(iri)
            if label is None:
                label = self._labels[iri] = self._blank()
            return label
        return _named(iri)

    def document(self, doc: dict[str, Any]) -> None:
        if "@context" not in doc:
            raise _Unsupported("no @context")
        self._node(_top_context(doc["@context"]), None, doc)

    def _node(self, active: _Ctx, active_property: str | None, element: dict[str, Any]) -> str:
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
                    raise _Unsupported("non-string @type")
        body = shape.body(keys, names)
        subject_iri: str | None = None
        pairs: list[tuple[str, str]] = []  # (predicate, object) in key order
        for prop in body.entries:
            kind = prop.kind
            if kind == _PROPERTY:
                value = element[prop.key]
                suffix = prop.plain_suffix
                if suffix is not None and type(value) is str:  # the common case: one plain string
                    if not (value.isprintable() and '"' not in value and "\\" not in value):  # _is_plain
                        value = _escape(value)
                    pairs.append((prop.plain_predicate, f'"{value}"{suffix}'))
                    continue
                objects = self._values(prop, value)
                if objects:
                    predicate = prop.predicate
                    if predicate is None:
                        raise _Unsupported(f"IRI of {prop.key!r}")
                    pairs.extend([(predicate, obj) for obj in objects])
            elif kind == _ID:
                value = element[prop.key]
                if not isinstance(value, str):
                    raise _Unsupported("@id")
                subject_iri = body.ctx.doc_iri(value)
                if subject_iri is None or subject_iri[0] == "@":  # relative, or a keyword ("id": "@type")
                    raise _Unsupported(f"relative @id {value!r}")
            else:
                raise _Unsupported(prop.error)

        subject = self._resource(subject_iri) if subject_iri is not None else self._blank()
        quads = self.quads
        if names:
            terms = body.type_terms
            if terms is None:
                terms = body.type_terms_for(self._resource)
            quads.extend([(subject, _TYPE_TERM, term, "") for term in terms])
        quads.extend([(subject, predicate, obj, "") for predicate, obj in pairs])
        return subject

    def _values(self, prop: _Prop, value: Any) -> list[str]:
        items = value if isinstance(value, list) else (value,)
        objects: list[str] = []
        suffix = prop.string_suffix
        for item in items:
            if type(item) is str and suffix is not None:  # the common case first
                if not (item.isprintable() and '"' not in item and "\\" not in item):  # _is_plain
                    item = _escape(item)
                objects.append(f'"{item}"{suffix}')
            elif item is None:
                continue
            elif isinstance(item, dict):
                objects.append(self._node(prop.ctx, prop.key, item))
            elif isinstance(item, list):
                if prop.is_list:
                    raise _Unsupported("list of lists")
                objects.extend(self._values(prop, item))
            else:
                objects.append(self._scalar(prop, item))
        if prop.is_list:
            if value is None:
                return []
            return [self._rdf_list(objects)]
        return objects

    def _scalar(self, prop: _Prop, item: Any) -> str:
        coerce = prop.coerce
        if isinstance(item, str) and coerce in ("@id", "@vocab"):
            ctx = prop.ctx
            iri = ctx.doc_iri(item) if coerce == "@id" else ctx.vocab_iri(item)
            if iri is None or iri[0] == "@":
                raise _Unsupported(f"relative IRI value {item!r}")
            return self._resource(iri)
        return _literal(item, prop.datatype)

    def _rdf_list(self, objects: list[str]) -> str:
        if not objects:
            return _NIL_TERM
        head = cell = self._blank()
        for index, obj in enumerate(objects):
            self.quads.append((cell, _FIRST_TERM, obj, ""))
            nxt = self._blank() if index + 1 < len(objects) else _NIL_TERM
            self.quads.append((cell, _REST_TERM, nxt, ""))
            cell = nxt
        return head


_NAMED_CACHE: dict[str, str] = {}


def _named(iri: str) -> str:
    term = _NAMED_CACHE.get(iri)
    if term is None:
        if _BAD_IRI_CHARS.search(iri):
            raise _Unsupported(f"IRI {iri!r}")
        term = f"<{iri}>"
        if len(_NAMED_CACHE) < _IRI_CACHE_LIMIT and len(iri) <= _IRI_CACHE_CHARS:
            _NAMED_CACHE[iri] = term
    return term


def to_quads(doc: dict[str, Any]) -> list[Quad] | None:
    """Quads of ``doc`` by the fast path, or None when the document needs the reference path."""
    converter = _ToRdf()
    try:
        converter.document(doc)
    except _Unsupported:
        return None
    return converter.quads


# --------------------------------------------------------------------------------------------------
# Fast path: RDFC-1.0
# --------------------------------------------------------------------------------------------------


class _Issuer:
    """RDFC-1.0 identifier issuer: old label -> new label, in order of issue. Labels are kept as
    blank node terms ("_:c14n0"), the form every use of them writes."""

    __slots__ = ("issued", "prefix")

    def __init__(self, prefix: str, issued: dict[str, str] | None = None) -> None:
        self.prefix = prefix  # "_:c14n" or "_:b"
        self.issued: dict[str, str] = {} if issued is None else issued

    def issue(self, old: str) -> str:
        issued = self.issued
        new = issued.get(old)
        if new is None:
            new = issued[old] = f"{self.prefix}{len(issued)}"  # the counter is the number issued
        return new

    def copy(self) -> _Issuer:
        return _Issuer(self.prefix, dict(self.issued))


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# Bounds the n-degree hashing work: credentials need a handful of calls; a "poison" dataset crafted
# to make RDFC-1.0 explode is refused instead of burning the verifier's CPU.
_NDEGREE_BUDGET = 100_000


class _Rdfc10:
    """RDF Dataset Canonicalization (RDFC-1.0 with SHA-256) of default-graph quads of N-Quads terms.

    A transcription of the W3C algorithm (sections 4.4 to 4.8). Credentials usually have blank
    nodes with distinct first-degree hashes; identical structures (e.g. two equal @list values)
    need the n-degree step, which is short for them. Quads without blank nodes are written once,
    when the dataset is indexed: no labelling can change them.
    """

    def __init__(self, quads: Iterable[Quad]) -> None:
        mentions: dict[str, list[Quad]] = {}
        self.mentions = mentions
        # Each blank node's quads written for its first-degree hash (itself _:a, others _:z),
        # built in the same pass as the index.
        self.first_degree_lines: dict[str, list[str]] = {}
        self.ground_lines: list[str] = []  # canonical lines of the quads without blank nodes
        self.blank_quads: list[Quad] = []
        ground = self.ground_lines.append
        blank = self.blank_quads.append
        lines = self.first_degree_lines
        for quad in quads:
            s, p, o, g = quad
            s_blank = s[0] == "_"
            o_blank = o[0] == "_"
            if g:
                if s_blank or o_blank or g[0] == "_":
                    blank(quad)
                    self._mention_named_graph(quad)
                else:
                    ground(f"{s} {p} {o} {g} .\n")
            elif s_blank:
                blank(quad)
                mentions.setdefault(s, []).append(quad)
                if not o_blank:
                    lines.setdefault(s, []).append(f"_:a {p} {o} .\n")
                elif o == s:
                    lines.setdefault(s, []).append(f"_:a {p} _:a .\n")
                else:
                    lines.setdefault(s, []).append(f"_:a {p} _:z .\n")
                    mentions.setdefault(o, []).append(quad)
                    lines.setdefault(o, []).append(f"_:z {p} _:a .\n")
            elif o_blank:
                blank(quad)
                mentions.setdefault(o, []).append(quad)
                lines.setdefault(o, []).append(f"{s} {p} _:a .\n")
            else:
                ground(f"{s} {p} {o} .\n")
        self.first_degree: dict[str, str] = {}
        self.canonical = _Issuer("_:c14n")
        self.budget = _NDEGREE_BUDGET

    def _mention(self, bnode: str, quad: Quad, line: str) -> None:
        self.mentions.setdefault(bnode, []).append(quad)
        self.first_degree_lines.setdefault(bnode, []).append(line)

    def _mention_named_graph(self, quad: Quad) -> None:
        """A quad in a named graph (the fallback path's embedded proofs): each distinct blank node."""
        s, p, o, g = quad
        for bnode in dict.fromkeys(term for term in (s, o, g) if term[0] == "_"):
            s2, o2, g2 = (("_:a" if term == bnode else "_:z") if term[0] == "_" else term for term in (s, o, g))
            self._mention(bnode, quad, _line(s2, p, o2, g2))

    def hash_first_degree(self, bnode: str) -> str:
        cached = self.first_degree.get(bnode)
        if cached is not None:
            return cached
        lines = self.first_degree_lines[bnode]
        lines.sort()
        result = self.first_degree[bnode] = _sha256("".join(lines))
        return result

    def _related_hash(self, related: str, predicate: str, issuer: _Issuer, position: str) -> str:
        identifier = self.canonical.issued.get(related) or issuer.issued.get(related)
        if identifier is None:
            identifier = self.hash_first_degree(related)
        return _sha256(f"{position}{predicate}{identifier}")

    def _spend(self) -> None:
        self.budget -= 1
        if self.budget < 0:
            raise JsonLdProcessingError("RDF canonicalization is too complex (too many blank node permutations)")

    def hash_n_degree(self, bnode: str, issuer: _Issuer) -> tuple[str, _Issuer]:
        self._spend()
        groups: dict[str, list[str]] = {}
        related_hash = self._related_hash
        for s, p, o, g in self.mentions[bnode]:
            if s[0] == "_" and s != bnode:
                groups.setdefault(related_hash(s, p, issuer, "s"), []).append(s)
            if o[0] == "_" and o != bnode:
                groups.setdefault(related_hash(o, p, issuer, "o"), []).append(o)
            if g and g[0] == "_" and g != bnode:
                groups.setdefault(related_hash(g, "", issuer, "g"), []).append(g)
        data = ""
        for group_hash in sorted(groups):
            data += group_hash
            chosen_path = ""
            chosen_issuer: _Issuer | None = None
            for permutation in itertools.permutations(groups[group_hash]):
                self._spend()
                candidate = self._permutation_path(permutation, issuer, chosen_path)
                if candidate is not None and (not chosen_path or candidate[0] < chosen_path):
                    chosen_path, chosen_issuer = candidate
            data += chosen_path
            if chosen_issuer is not None:
                issuer = chosen_issuer
        return _sha256(data), issuer

    def _permutation_path(
        self, permutation: tuple[str, ...], issuer: _Issuer, chosen_path: str
    ) -> tuple[str, _Issuer] | None:
        """The path of one permutation, or None as soon as it cannot beat ``chosen_path``."""
        issuer_copy = issuer.copy()
        canonical = self.canonical.issued
        path = ""
        recursion: list[str] = []
        for related in permutation:
            label = canonical.get(related)
            if label is None:
                if related not in issuer_copy.issued:
                    recursion.append(related)
                label = issuer_copy.issue(related)
            path += label
            if chosen_path and len(path) >= len(chosen_path) and path > chosen_path:
                return None
        for related in recursion:
            result_hash, issuer_copy_next = self.hash_n_degree(related, issuer_copy)
            path += f"{issuer_copy.issue(related)}<{result_hash}>"
            issuer_copy = issuer_copy_next
            if chosen_path and len(path) >= len(chosen_path) and path > chosen_path:
                return None
        return path, issuer_copy

    def run(self) -> str:
        by_hash: dict[str, list[str]] = {}
        hash_first_degree = self.hash_first_degree
        for bnode in self.mentions:
            by_hash.setdefault(hash_first_degree(bnode), []).append(bnode)
        shared: list[list[str]] = []
        canonical = self.canonical
        for first_hash in sorted(by_hash):
            bnodes = by_hash[first_hash]
            if len(bnodes) == 1:
                canonical.issue(bnodes[0])
            else:
                shared.append(bnodes)
        for bnodes in shared:
            paths: list[tuple[str, _Issuer]] = []
            for bnode in bnodes:
                if bnode in canonical.issued:
                    continue
                temporary = _Issuer("_:b")
                temporary.issue(bnode)
                paths.append(self.hash_n_degree(bnode, temporary))
            for _, result_issuer in sorted(paths, key=lambda item: item[0]):
                for old in result_issuer.issued:
                    canonical.issue(old)
        return self._serialize()

    def _serialize(self) -> str:
        """The canonical N-Quads: every blank node relabelled, lines in code point order. The quads
        are distinct and the relabelling is one to one, so the lines are distinct too."""
        labels = self.canonical.issued
        lines = list(self.ground_lines)
        for s, p, o, g in self.blank_quads:
            if s[0] == "_":
                s = labels[s]
            if o[0] == "_":
                o = labels[o]
            if g:
                lines.append(f"{s} {p} {o} {labels[g] if g[0] == '_' else g} .\n")
            else:
                lines.append(f"{s} {p} {o} .\n")
        lines.sort()
        return "".join(lines)


def _line(s: str, p: str, o: str, g: str) -> str:
    return f"{s} {p} {o} {g} .\n" if g else f"{s} {p} {o} .\n"


def _canonicalize_quads(quads: Iterable[Quad]) -> str:
    """RDFC-1.0 canonical N-Quads of a default-graph dataset."""
    return _Rdfc10(dict.fromkeys(quads)).run()  # a dataset is a set of quads


def canonicalize_quads(quads: list[Quad]) -> str:
    """RDFC-1.0 canonical N-Quads of quads of N-Quads terms (as :func:`to_quads` returns them)."""
    return _canonicalize_quads(quads)


def _canonicalize_with_oxigraph(quads: list[Quad]) -> str:
    # pyoxigraph writes canonical N-Quads with RDFC-1.0 escaping, so its lines are the canonical lines.
    text = "".join(_line(s, p, o, g) for s, p, o, g in quads)
    try:
        dataset = ox.Dataset(ox.parse(text.encode("utf-8"), format=ox.RdfFormat.N_QUADS))
    except (SyntaxError, ValueError) as exc:
        raise _Unsupported("pyoxigraph cannot read the quads") from exc
    dataset.canonicalize(ox.CanonicalizationAlgorithm.RDFC_1_0)
    out = ox.serialize(dataset, format=ox.RdfFormat.N_QUADS)
    if out is None:  # pragma: no cover - serialize returns bytes when no output is given
        raise _Unsupported("pyoxigraph wrote nothing")
    # split on "\n" only: str.splitlines() would also split inside literals (U+0085, U+2028, ...)
    lines = [f"{line}\n" for line in out.decode("utf-8").split("\n") if line]
    lines.sort()
    return "".join(lines)


def canonicalize_fast_only(doc: dict[str, Any]) -> str | None:
    """Canonical N-Quads by the fast path alone; None if the document is outside its subset."""
    quads = to_quads(doc)
    if quads is None:
        return None
    try:
        return _canonicalize_quads(quads)
    except _Unsupported:
        return None


def canonicalize_oxigraph_only(doc: dict[str, Any]) -> str | None:
    """Fast-path quads canonicalized by pyoxigraph alone (no first-degree shortcut), for tests."""
    quads = to_quads(doc)
    if quads is None:
        return None
    return _canonicalize_with_oxigraph(list(dict.fromkeys(quads)))


def _pyld_term(term: dict[str, Any]) -> str:
    kind = term["type"]
    if kind == "IRI":
        return f"<{_escape_iri(term['value'])}>"
    if kind == "blank node":
        value: str = term["value"]
        return value
    text = f'"{_escape(term["value"])}"'
    if term.get("language"):
        return f"{text}@{term['language']}"
    datatype = term.get("datatype") or XSD_STRING
    return text if datatype == XSD_STRING else f"{text}^^<{_escape_iri(datatype)}>"


def _canonicalize_fallback(doc: dict[str, Any]) -> str:
    """pyld's JSON-LD to RDF (safe mode) with our RDFC-1.0, for documents outside the fast path
    (inline contexts, named graphs such as embedded credentials with their own proofs, ...)."""
    return _canonicalize_quads(_fallback_quads(doc))


def _fallback_quads(doc: dict[str, Any]) -> list[Quad]:
    expanded = expand_safe(doc)
    try:
        dataset = jsonld.to_rdf(expanded, dict(_PYLD_OPTIONS))
    except Exception as exc:
        raise _unwrap_pyld_error(exc) from exc
    quads: list[Quad] = []
    for graph_name, triples in dataset.items():
        graph = (
            ""
            if graph_name == "@default"
            else (graph_name if graph_name.startswith("_:") else f"<{_escape_iri(graph_name)}>")
        )
        quads.extend(
            (_pyld_term(t["subject"]), _pyld_term(t["predicate"]), _pyld_term(t["object"]), graph) for t in triples
        )
    return quads


def canonicalize(doc: dict[str, Any]) -> str:
    """Canonical N-Quads (RDFC-1.0) of a JSON-LD document, in safe mode.

    Raises :class:`UndefinedTermError` for a property or type its contexts do not define,
    :class:`UnknownContextError` for an unbundled context, :class:`JsonLdProcessingError` for
    invalid JSON-LD.
    """
    fast = canonicalize_fast_only(doc)
    if fast is not None:
        return fast
    return _canonicalize_fallback(doc)


def canonical_form(doc: dict[str, Any]) -> tuple[str, list[Quad]]:
    """:func:`canonicalize`'s canonical N-Quads together with the dataset's quads (N-Quads terms,
    blank nodes not yet relabelled), for reading facts from the signed data without parsing text.

    Raises what :func:`canonicalize` raises.
    """
    quads = to_quads(doc)
    if quads is not None:
        try:
            return _canonicalize_quads(quads), quads
        except _Unsupported:
            pass
    quads = _fallback_quads(doc)
    return _canonicalize_quads(quads), quads


def check_terms(doc: dict[str, Any]) -> None:
    """Raise :class:`UndefinedTermError` if any property or type of ``doc`` is undefined."""
    if to_quads(doc) is None:
        expand_safe(doc)
