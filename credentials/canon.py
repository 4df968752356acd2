"""Canonical N-Quads (RDFC-1.0) of JSON-LD documents, in JSON-LD safe mode: the public facade.

Two implementations produce the same canonical N-Quads:

* the fast path: :func:`credentials.jsonld_to_rdf.to_quads` (a direct JSON-LD-to-RDF walk over the
  subset of JSON-LD 1.1 credentials use, with the processed contexts and conversion plans of
  :mod:`credentials.jsonld_context`), then our RDFC-1.0 (:mod:`credentials.rdfc`);
* the reference path: pyld's expansion and JSON-LD to RDF in safe mode
  (:func:`~credentials.jsonld_to_rdf.reference_quads`) with the same RDFC-1.0, for documents outside
  that subset; and, as the independent oracle of the tests, pyld's own URDNA2015
  (:func:`canonicalize_reference`) and pyoxigraph's RDFC-1.0 (:func:`canonicalize_oxigraph_only`).

The fast path never guesses: anything outside its subset, and anything safe mode would reject, makes
it hand the document to the reference path, which then either produces the result or raises the
precise error. Tests check both paths agree on the standard's test vector and on generated and
mutated credentials.

Raises (:func:`canonicalize`, :func:`canonical_form`, :func:`check_terms`):
:class:`~credentials.errors.UndefinedTermError` for a property or type the contexts do not define
or a relative IRI, :class:`~credentials.errors.UnknownContextError` for an unbundled context,
:class:`~credentials.errors.ContextIntegrityError` for a bundled context that fails its pin,
:class:`~credentials.errors.JsonLdProcessingError` for invalid JSON-LD or a dataset too complex to
canonicalize. The fast path's internal :class:`~credentials.nquads.Unsupported` never leaves here.

The functions below call :func:`to_quads` through this module's namespace (a test replaces it here
to count the conversions a verification makes).
"""

from __future__ import annotations

from typing import Any

from credentials.jsonld_to_rdf import canonicalize_reference, expand_safe, reference_quads, to_quads
from credentials.nquads import Quad, Unsupported
from credentials.rdfc import canonicalize_quads, canonicalize_with_oxigraph

__all__ = [
    "Quad",
    "canonical_form",
    "canonicalize",
    "canonicalize_fast_only",
    "canonicalize_oxigraph_only",
    "canonicalize_quads",
    "canonicalize_reference",
    "check_terms",
    "expand_safe",
    "to_quads",
]


def canonicalize_fast_only(doc: dict[str, Any]) -> str | None:
    """Canonical N-Quads by the fast path alone; None if the document is outside its subset."""
    quads = to_quads(doc)
    if quads is None:
        return None
    try:
        return canonicalize_quads(quads)
    except Unsupported:
        return None


def canonicalize_oxigraph_only(doc: dict[str, Any]) -> str | None:
    """Fast-path quads canonicalized by pyoxigraph alone (no first-degree shortcut), for tests."""
    quads = to_quads(doc)
    if quads is None:
        return None
    return canonicalize_with_oxigraph(list(dict.fromkeys(quads)))


def _canonicalize_fallback(doc: dict[str, Any]) -> str:
    """pyld's JSON-LD to RDF (safe mode) with our RDFC-1.0, for documents outside the fast path
    (inline contexts, named graphs such as embedded credentials with their own proofs, ...)."""
    return canonicalize_quads(reference_quads(doc))


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
            return canonicalize_quads(quads), quads
        except Unsupported:
            pass
    quads = reference_quads(doc)
    return canonicalize_quads(quads), quads


def check_terms(doc: dict[str, Any]) -> None:
    """Raise :class:`UndefinedTermError` if any property or type of ``doc`` is undefined."""
    if to_quads(doc) is None:
        expand_safe(doc)
