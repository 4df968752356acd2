"""Reading untrusted credential input: explicit limits, duplicate keys, lone surrogates, compact form.

A verifier is handed documents crafted to confuse it, so everything it reads first passes here:

* **limits**: at most :data:`MAX_BYTES` of JSON text, :data:`MAX_DEPTH` levels of nesting,
  :data:`MAX_VALUES` JSON values and :data:`MAX_BLANK_NODES` objects without an ``id`` (each becomes
  an RDF blank node, the expensive part of canonicalization);
* **duplicate keys** are refused: parsers disagree on which value wins (Python keeps the last), so a
  forged value placed before the original would be shown by one and signed by another;
* **lone surrogates** (``"\\ud800"``) are refused: they are not Unicode text and cannot be hashed;
* **compact form** (:func:`compact_form_problem`): every key is a term of the bundled contexts — no
  absolute or compact IRIs as keys, no ``@nest``, ``@included``, ``@reverse``, ``@value`` or other
  keywords, and ``@context`` only as bundled context URLs. JSON-LD offers many spellings of the same
  RDF; a verifier reading JSON keys must only ever see the one it can read.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from credentials.errors import CredentialError

MAX_BYTES: Final = 1_048_576  # 1 MiB of JSON text
MAX_DEPTH: Final = 32  # nested objects/arrays; our credentials use 7
MAX_VALUES: Final = 100_000  # JSON values of every kind
MAX_BLANK_NODES: Final = 1_000  # objects without an "id"; ours have about 30

# Keys that are JSON-LD keywords but are the terms our contexts alias to @id/@type.
_ALLOWED_KEYWORDS: Final = frozenset({"@context"})


class InputError(CredentialError):
    """Input a verifier refuses to read at all (not JSON, too large, duplicate keys, ...)."""


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise InputError(f"duplicate key {key!r} in one object: documents with duplicate keys are refused")
            seen.add(key)
    return result


def parse_json(raw: str | bytes, *, limits: bool = True) -> Any:
    """Parse JSON text under the limits, refusing duplicate keys.

    Raises :class:`InputError` for text over :data:`MAX_BYTES`, text that is not UTF-8 or not JSON,
    duplicate keys, nesting too deep for the parser, and (unless ``limits`` is False, for callers
    that run :func:`scan_document` themselves) anything :func:`check_limits` refuses.
    """
    size = len(raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw)
    if size > MAX_BYTES:
        raise InputError(f"the document is {size} bytes, more than the limit of {MAX_BYTES}")
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        parsed = json.loads(text, object_pairs_hook=_no_duplicates)
    except RecursionError:
        raise InputError(f"nested too deeply (the limit is {MAX_DEPTH} levels)") from None
    except UnicodeDecodeError as exc:
        raise InputError(f"not UTF-8 text: {exc.reason} at byte {exc.start}") from None
    except ValueError as exc:  # json.JSONDecodeError is a ValueError
        raise InputError(f"not JSON: {exc}") from None
    if limits:
        check_limits(parsed)
    return parsed


def _check_string(value: str, path: str) -> None:
    if not value.isascii() and not _is_text(value):
        raise InputError(f"{path} contains a lone surrogate: not Unicode text")


@dataclass(frozen=True)
class Scan:
    """What one pass over a parsed document found: why it is over the limits (or not Unicode
    text), and why it is not in compacted form; None when it is fine."""

    limits: str | None
    form: str | None


def scan_document(doc: Any) -> Scan:
    """One iterative pass over ``doc`` for both the limits and the compact form.

    The pass keeps no paths (it runs on every document); only a document it flags is walked again
    to say where the problem is.
    """
    over, not_compact = _flags(doc)
    limits = _limits_problem(doc) if over else None
    form = compact_form_problem(doc) if not_compact and limits is None else None
    return Scan(limits, form)


def _flags(doc: Any) -> tuple[bool, bool]:
    """(over the limits or not Unicode text, not in compacted form), as fast as Python allows:
    leaves are checked where they are found, only containers go on the stack."""
    if type(doc) is str:
        return not _is_text(doc) if not doc.isascii() else False, False
    if not isinstance(doc, Mapping | list):
        return False, False
    values = 1
    blank_nodes = 0
    not_compact = False
    stack: list[tuple[Any, int]] = [(doc, 1)]
    pop, push = stack.pop, stack.append
    while stack:
        node, depth = pop()
        if depth > MAX_DEPTH:
            return True, not_compact
        if type(node) is list:  # tested first: isinstance(list, Mapping) is a slow ABC check
            items: Any = node
        elif type(node) is dict or isinstance(node, Mapping):
            if "id" not in node and "@id" not in node:
                blank_nodes += 1
            items = node.values()
            for key in node:
                if type(key) is not str or (not key.isascii() and not _is_text(key)):
                    return True, not_compact
                if ":" in key or (key[:1] == "@" and (key != "@context" or not _is_context_urls(node[key]))):
                    not_compact = True
        else:
            items = node
        values += len(items)
        for value in items:
            kind = type(value)
            if kind is str:
                if not value.isascii() and not _is_text(value):
                    return True, not_compact
            elif kind is dict or kind is list or isinstance(value, Mapping | list):
                push((value, depth + 1))
    return values > MAX_VALUES or blank_nodes > MAX_BLANK_NODES, not_compact


def _is_text(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _is_context_urls(value: Any) -> bool:
    items = value if isinstance(value, list) else [value]
    return bool(items) and all(isinstance(item, str) for item in items)


def check_limits(doc: Any) -> None:
    """Refuse a parsed document over the depth, value or blank-node limits, or holding a string
    (key or value) that is not Unicode text. Iterative, so any depth is reported, never a crash.

    Raises :class:`InputError` naming the limit and where it was reached.
    """
    over, _ = _flags(doc)
    if over:
        problem = _limits_problem(doc)
        raise InputError(problem or "the document is over the input limits")


def _limits_problem(doc: Any) -> str | None:
    """Where ``doc`` is over the limits (the slow walk, with paths), or None."""
    try:
        _describe_limits(doc)
    except InputError as exc:
        return str(exc)
    return None


def _describe_limits(doc: Any) -> None:
    values = 0
    blank_nodes = 0
    stack: list[tuple[Any, int, str]] = [(doc, 1, "$")]
    while stack:
        node, depth, path = stack.pop()
        values += 1
        if values > MAX_VALUES:
            raise InputError(f"more than {MAX_VALUES} JSON values")
        if isinstance(node, str):
            _check_string(node, path)
            continue
        if not isinstance(node, Mapping | list):
            continue
        if depth > MAX_DEPTH:
            raise InputError(f"{path}: nested deeper than the limit of {MAX_DEPTH} levels")
        if isinstance(node, list):
            stack.extend((item, depth + 1, f"{path}[{i}]") for i, item in enumerate(node))
            continue
        if "id" not in node and "@id" not in node:
            blank_nodes += 1
            if blank_nodes > MAX_BLANK_NODES:
                raise InputError(f"more than {MAX_BLANK_NODES} objects without an id (blank nodes)")
        for key, value in node.items():
            if not isinstance(key, str):
                raise InputError(f"{path}: a key is not a string")
            _check_string(key, path)
            stack.append((value, depth + 1, f"{path}.{key}"))


def compact_form_problem(doc: Any) -> str | None:
    """Why ``doc`` is not in compacted form with its contexts' terms, or None when it is.

    Refused: keys that are absolute or compact IRIs (``https://...#validUntil``, ``cred:issuer``),
    keys that are JSON-LD keywords (``@nest``, ``@included``, ``@reverse``, ``@value``, ``@graph``,
    ``@id``, ...; ``id`` and ``type`` are the contexts' aliases), and ``@context`` values other than
    context URLs (an inline context can alias a core property under a name the checks never read).
    """
    stack: list[tuple[Any, str]] = [(doc, "$")]
    while stack:
        node, path = stack.pop()
        if isinstance(node, list):
            stack.extend((item, f"{path}[{i}]") for i, item in enumerate(node))
            continue
        if not isinstance(node, Mapping):
            continue
        for key, value in node.items():
            where = f"{path}.{key}"
            if key == "@context":
                problem = _context_problem(value, where)
                if problem:
                    return problem
                continue
            if key.startswith("@") and key not in _ALLOWED_KEYWORDS:
                return f"{where}: the JSON-LD keyword {key} is not allowed (documents must be in compacted form)"
            if ":" in key:
                return f"{where}: a key that is an IRI is not allowed (only the contexts' terms are)"
            stack.append((value, where))
    return None


def _context_problem(value: Any, where: str) -> str | None:
    items = value if isinstance(value, list) else [value]
    if not items or not all(isinstance(item, str) for item in items):
        return f"{where}: only context URLs are allowed (inline contexts can rename core properties)"
    return None
