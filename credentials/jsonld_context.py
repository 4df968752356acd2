"""JSON-LD context processing for the fast path, with cached contexts and compiled conversion plans.

Processes the subset of JSON-LD 1.1 contexts that credentials use (term definitions with ``@id``,
``@type``, ``@container`` ``@set``/``@list``, type- and property-scoped contexts, ``@protected``,
compact IRIs, ``@vocab``) into immutable :class:`Context` objects, mirroring pyld's algorithms with no
base IRI. A document's top context (:func:`top_context`) is cached by its list of context URLs; each
context caches the contexts derived from it and its IRI expansions, and holds conversion plans
(:class:`KeyPlan`, :class:`NodeShape`, :class:`NodeBody`: how a key, a node's keys, a node's types
convert) within one bounded budget shared by all contexts.

Raises :class:`~credentials.nquads.Unsupported` (which sends the document to the reference path)
for a context outside that subset or one pyld would refuse (a protected term redefined, a cyclic
definition, ...), and, while planning, for a node the fast path does not handle (a value object, an
embedded ``@context``, two keys aliasing ``@type``, an undefined type). A :class:`KeyPlan` never
raises when made: an undefined term or unsupported value becomes an error entry, raised by the
conversion when it reaches that key. Loading a context raises
:class:`~credentials.errors.UnknownContextError` for a URL that is not bundled and
:class:`~credentials.errors.ContextIntegrityError` for a bundled context that fails its pin.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, Final

from credentials.contexts import load_context
from credentials.nquads import (
    BAD_IRI_CHARS,
    IRI_CACHE_CHARS,
    IRI_CACHE_LIMIT,
    XSD_DOUBLE,
    XSD_STRING,
    Unsupported,
    iri_term,
)

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
ABSOLUTE_IRI = re.compile(r"^([A-Za-z][A-Za-z0-9+-.]*|_):[^\s]*$")
_PREFIX_IRI_END = re.compile(r".*[:/\?#\[\]@]$")


# --------------------------------------------------------------------------------------------------
# Term definitions and active contexts
# --------------------------------------------------------------------------------------------------


_NO_CONTEXT: Final[Any] = object()
_ALLOWED_DEF_KEYS = frozenset({"@id", "@type", "@container", "@context", "@protected"})
_ALLOWED_CONTAINERS: tuple[frozenset[str], ...] = (frozenset(), frozenset({"@set"}), frozenset({"@list"}))


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


class Context:
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

    def __init__(self, terms: dict[str, _Term], vocab: str | None, previous: Context | None) -> None:
        self.terms = terms
        self.vocab = vocab
        self.previous = previous
        self._derived: dict[tuple[int, bool, bool], tuple[Any, Context]] = {}
        self._vocab_iris: dict[str, str | None] = {}
        self._doc_iris: dict[str, str | None] = {}
        # Conversion plans (see KeyPlan), filled only once the context is complete.
        self._props: dict[str, KeyPlan] = {}
        self._shapes: dict[tuple[str | None, tuple[str, ...]], NodeShape] = {}

    def clone(self) -> Context:
        """A context to build on: the same terms, none of the caches (they belong to this one)."""
        return Context(dict(self.terms), self.vocab, self.previous)

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
                return value if ABSOLUTE_IRI.match(value) else None
            pterm = self.terms.get(prefix)
            if pterm is not None and pterm.prefix:
                iri = pterm.iri + suffix
                return iri if ABSOLUTE_IRI.match(iri) else None
            if ABSOLUTE_IRI.match(value):
                return value
        if vocab and self.vocab is not None:
            return self.vocab + value
        return None  # relative: safe mode rejects it

    def vocab_iri(self, value: str) -> str | None:
        """``value`` expanded as a property or type (terms and ``@vocab`` apply); None if relative."""
        try:
            return self._vocab_iris[value]
        except KeyError:
            iri = self._expand(value, vocab=True)
            if len(self._vocab_iris) < IRI_CACHE_LIMIT and len(value) <= IRI_CACHE_CHARS:
                self._vocab_iris[value] = iri
            return iri

    def doc_iri(self, value: str) -> str | None:
        """``value`` expanded as an ``@id`` (compact IRIs apply, terms do not); None if relative."""
        try:
            return self._doc_iris[value]
        except KeyError:
            iri = self._expand(value, vocab=False)
            if len(self._doc_iris) < IRI_CACHE_LIMIT and len(value) <= IRI_CACHE_CHARS:
                self._doc_iris[value] = iri
            return iri

    def prop(self, key: str) -> KeyPlan:
        """How ``key``'s values convert in this context (see :class:`KeyPlan`)."""
        found = self._props.get(key)
        if found is None:
            found = KeyPlan(self, key)
            if _keep_plan(self, len(key)):
                self._props[key] = found
        return found

    def shape(self, active_property: str | None, keys: tuple[str, ...]) -> NodeShape:
        """How a node with ``keys`` held by ``active_property`` enters this context (see :class:`NodeShape`)."""
        cache_key = (active_property, keys)
        found = self._shapes.get(cache_key)
        if found is None:
            found = NodeShape(self, active_property, keys)
            if _keep_plan(self, sum(map(len, keys)) + len(active_property or "")):
                self._shapes[cache_key] = found
                found.kept = True
        return found

    # -- context processing --

    def derive(self, local: Any, *, propagate: bool = True, override_protected: bool = False) -> Context:
        """This context with ``local`` (a context definition, URL or list) applied, cached by the
        identity of ``local``: the bundled contexts and scoped contexts are the same objects each time."""
        key = (id(local), propagate, override_protected)
        hit = self._derived.get(key)
        if hit is not None and hit[0] is local:
            return hit[1]
        result = _process_context(self, local, propagate, override_protected)
        # Keep `local` alive with the entry, so its id cannot be reused by another object.
        self._derived[key] = (local, result)
        return result


# --------------------------------------------------------------------------------------------------
# Context processing
# --------------------------------------------------------------------------------------------------


def _process_context(active: Context, local: Any, propagate: bool, override_protected: bool) -> Context:
    locals_ = local if isinstance(local, list) else [local]
    if not locals_:
        return active.clone()
    first = locals_[0]
    if isinstance(first, dict) and "@propagate" in first:
        raise Unsupported("@propagate")
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
            raise Unsupported("context that is not an object")
        rval = _apply_local_context(rval, item, override_protected)
    return rval


def _apply_local_context(active: Context, local: dict[str, Any], override_protected: bool) -> Context:
    result = active.clone()
    for key, value in local.items():
        if key == "@version":
            if value != 1.1:
                raise Unsupported("@version")
        elif key == "@vocab":
            if not isinstance(value, str) or not ABSOLUTE_IRI.match(value):
                raise Unsupported("@vocab")
            result.vocab = value
        elif key == "@protected":
            if not isinstance(value, bool):
                raise Unsupported("@protected")
        elif key.startswith("@"):
            raise Unsupported(key)
    defined: dict[str, bool] = {}
    for term in local:
        if not term.startswith("@"):
            _define_term(result, local, term, defined, override_protected)
    return result


def _expand_in_definition(
    ctx: Context, local: dict[str, Any], value: str, defined: dict[str, bool], override: bool
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
        raise Unsupported(f"context IRI {value!r}")
    return iri


def _define_term(ctx: Context, local: dict[str, Any], term: str, defined: dict[str, bool], override: bool) -> None:
    state = defined.get(term)
    if state is True:
        return
    if state is False:
        raise Unsupported("cyclic term definition")
    defined[term] = False
    value = local[term]
    if term == "" or ":" in term or "/" in term:
        raise Unsupported(f"term {term!r}")
    simple = isinstance(value, str)
    if simple:
        defn: dict[str, Any] = {"@id": value}
    elif isinstance(value, dict) and _ALLOWED_DEF_KEYS.issuperset(value):
        defn = value
    else:
        raise Unsupported(f"definition of {term!r}")

    if "@id" in defn:
        id_ = defn["@id"]
        if not isinstance(id_, str):
            raise Unsupported(f"@id of {term!r}")
        if id_ in KEYWORDS:
            if id_ in ("@context", "@preserve"):
                raise Unsupported("keyword alias")
            iri = id_
        elif id_.startswith("@"):
            raise Unsupported(f"@id of {term!r}")
        else:
            iri = _expand_in_definition(ctx, local, id_, defined, override)
    elif ctx.vocab is not None:
        iri = ctx.vocab + term
    else:
        raise Unsupported(f"no IRI for {term!r}")

    prefix = simple and iri not in KEYWORDS and (iri.startswith("_:") or _PREFIX_IRI_END.match(iri) is not None)

    type_: str | None = None
    if "@type" in defn:
        raw_type = defn["@type"]
        if not isinstance(raw_type, str) or raw_type == "@none":
            raise Unsupported(f"@type of {term!r}")
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
        raise Unsupported(f"null scoped context of {term!r}")

    mapping = _Term(iri, type_, container, scoped, prefix)
    protected_flag = defn.get("@protected")
    mapping.protected = bool(protected_flag) or (bool(local.get("@protected")) and protected_flag is not False)
    previous = ctx.terms.get(term)
    if previous is not None and previous.protected and not override:
        if not previous.same_definition(mapping):
            raise Unsupported(f"protected term {term!r} redefined")
        mapping.protected = True
    ctx.terms[term] = mapping
    defined[term] = True


# --------------------------------------------------------------------------------------------------
# Top contexts (the documents' own, cached)
# --------------------------------------------------------------------------------------------------


_INITIAL = Context({}, None, None)
_TOP_CONTEXTS: dict[tuple[str, ...], Context] = {}


def top_context(raw: Any) -> Context:
    """The active context of a document whose ``@context`` is a URL or a list of URLs (cached)."""
    if isinstance(raw, str):
        key: tuple[str, ...] = (raw,)
    elif isinstance(raw, list) and raw and all(isinstance(u, str) for u in raw):
        key = tuple(raw)
    else:
        raise Unsupported("inline or missing @context")
    ctx = _TOP_CONTEXTS.get(key)
    if ctx is None:
        ctx = _INITIAL
        for url in key:
            ctx = ctx.derive(load_context(url)["@context"])
        if len(_TOP_CONTEXTS) < 64:
            _TOP_CONTEXTS[key] = ctx
    return ctx


# --------------------------------------------------------------------------------------------------
# Conversion plans
# --------------------------------------------------------------------------------------------------


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
_planned: set[Context] = set()  # contexts holding kept plans
_plans_kept = 0


def _keep_plan(holder: Context | None, chars: int) -> bool:
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


# What a KeyPlan does with its key (its ``kind``).
PROPERTY: Final = 0
ID: Final = 1
ERROR: Final = 2
TYPE: Final = 3  # collected by the node before its body, so not in the body's entries
SKIP: Final = 4  # "@context" (the node's shape refuses it below the document node)


class KeyPlan:
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

    def __init__(self, active: Context, key: str) -> None:
        self.key = key
        self.kind = PROPERTY
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
        except Unsupported as exc:
            self.kind, self.error = ERROR, str(exc)
        if self.kind == PROPERTY and not self.is_list and self.predicate is not None:
            self.plain_suffix, self.plain_predicate = self.string_suffix, self.predicate

    def _plan(self, active: Context, key: str) -> None:
        if key == "@context":
            self.kind = SKIP
            return
        expanded = active.vocab_iri(key)
        if expanded is None:
            raise Unsupported(f"undefined term {key!r}")
        if expanded[0] == "@":
            if expanded == "@id":
                self.kind = ID
            elif expanded == "@type":
                self.kind = TYPE
            else:
                raise Unsupported(f"keyword {expanded}")
            return
        if expanded.startswith("_:"):
            raise Unsupported("blank node predicate")
        self._plan_values(active, key, expanded)

    def _plan_values(self, active: Context, key: str, expanded: str) -> None:
        term = active.terms.get(key)
        if term is not None:
            if term.type == "@json" or not term.supported:
                raise Unsupported(f"value of {key!r}")
            if term.context is not _NO_CONTEXT:
                self.ctx = active.derive(term.context, propagate=True, override_protected=True)
            self.is_list = term.is_list
        try:
            self.predicate = iri_term(expanded)
        except Unsupported:
            self.predicate = None  # refused only if the key has values (an empty one writes nothing)
        # Scalars are coerced with the term as defined in the property's context.
        sterm = self.ctx.terms.get(key, term)
        self.coerce = sterm.type if sterm is not None else None
        datatype = self.datatype
        if self.coerce in ("@id", "@vocab") or datatype == XSD_DOUBLE:
            self.string_suffix = None
        elif datatype is None or datatype == XSD_STRING:
            self.string_suffix = ""
        elif not BAD_IRI_CHARS.search(datatype):
            self.string_suffix = f"^^<{datatype}>"

    @property
    def datatype(self) -> str | None:
        return self.coerce if self.coerce not in (None, "@id", "@vocab") else None


class NodeShape:
    """How a node with given keys, held by a given property, enters its context: the context after
    reverting a type-scoped context and applying the property-scoped one, and its @type key; with
    its body plans by type names (the type-scoped contexts they apply)."""

    __slots__ = ("bodies", "ctx", "kept", "type_key")

    def __init__(self, active: Context, active_property: str | None, keys: tuple[str, ...]) -> None:
        # Property-scoped context of the property holding this node (looked up before reverting).
        scoped: Any = _NO_CONTEXT
        if active_property is not None:
            term = active.terms.get(active_property)
            if term is not None:
                scoped = term.context
        # Type-scoped contexts do not propagate into nested nodes, except into a bare reference.
        if active.previous is not None and not (len(keys) == 1 and active.vocab_iri(keys[0]) == "@id"):
            if len(keys) <= 2 and any(active.vocab_iri(k) == "@value" for k in keys):
                raise Unsupported("value object")
            active = active.previous
        if scoped is not _NO_CONTEXT:
            active = active.derive(scoped, propagate=True, override_protected=True)
        if "@context" in keys and active_property is not None:  # only the document node may have one
            raise Unsupported("embedded @context")
        type_keys = [key for key in keys if active.vocab_iri(key) == "@type"]
        if len(type_keys) > 1:
            # pyld visits keys in sorted order, and later keys see earlier type-scoped contexts
            raise Unsupported("several keys alias @type")
        self.ctx = active
        self.type_key = type_keys[0] if type_keys else None
        self.bodies: dict[tuple[str, ...], NodeBody] = {}
        self.kept = False  # whether a context keeps this plan (and so its bodies are worth keeping)

    def body(self, keys: tuple[str, ...], names: tuple[str, ...]) -> NodeBody:
        found = self.bodies.get(names)
        if found is None:
            found = NodeBody(self.ctx, keys, names)
            if self.kept and _keep_plan(None, sum(map(len, names))):  # kept by this shape
                self.bodies[names] = found
        return found


class NodeBody:
    """How the keys of a node with given types convert: its final context (type-scoped contexts
    applied, in sorted order as pyld does), its @id and properties in key order, its type IRIs."""

    __slots__ = ("ctx", "entries", "names", "type_iris", "type_scoped", "type_terms")

    def __init__(self, type_scoped: Context, keys: tuple[str, ...], names: tuple[str, ...]) -> None:
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
        entries: list[KeyPlan] = []
        seen_id = False
        for key in keys:
            prop = active.prop(key)
            if prop.kind == ID:
                if seen_id:  # two keys alias @id
                    prop = KeyPlan.__new__(KeyPlan)
                    prop.key, prop.kind, prop.error = key, ERROR, "@id"
                seen_id = True
            if prop.kind in (PROPERTY, ID, ERROR):
                entries.append(prop)
        self.entries = tuple(entries)

    def types(self) -> tuple[str, ...]:
        iris = self.type_iris
        if iris is None:
            found = []
            for name in self.names:
                type_iri = self.type_scoped.vocab_iri(name)
                if type_iri is None or type_iri[0] == "@":
                    raise Unsupported(f"undefined type {name!r}")
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
