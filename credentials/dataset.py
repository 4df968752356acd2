"""What a credential says, read from its signed RDF dataset rather than from its JSON keys.

The proof covers the canonical N-Quads of the document, not its JSON: two documents with the same
dataset have the same signature. So the facts a verifier acts on (validFrom, validUntil, the issuer,
credentialStatus, and for a status list its id, purpose, encoded bits and ttl) are read here from the
canonical N-Quads, where no JSON-LD spelling (``@nest``, full IRIs, value objects, aliases) can hide
them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from credentials.errors import CredentialError

CRED: Final = "https://www.w3.org/2018/credentials#"
STATUS: Final = "https://www.w3.org/ns/credentials/status#"
RDF_TYPE: Final = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"
XSD_DATETIME: Final = "http://www.w3.org/2001/XMLSchema#dateTime"
VERIFIABLE_CREDENTIAL: Final = CRED + "VerifiableCredential"

# Type IRIs shown by their term, so status entries read like their JSON.
_TYPE_TERMS: Final = {
    STATUS + "BitstringStatusListEntry": "BitstringStatusListEntry",
    STATUS + "BitstringStatusListCredential": "BitstringStatusListCredential",
    STATUS + "BitstringStatusList": "BitstringStatusList",
    VERIFIABLE_CREDENTIAL: "VerifiableCredential",
}
_ECHAR: Final = {"t": "\t", "b": "\b", "n": "\n", "r": "\r", "f": "\f", '"': '"', "'": "'", "\\": "\\"}


class DatasetError(CredentialError):
    """The signed dataset does not describe exactly one credential, or a fact is ambiguous."""


@dataclass(frozen=True)
class Literal:
    value: str
    datatype: str | None = None


# An object term: an IRI ("<...>" stripped to the IRI), a blank node ("_:b0") or a Literal.
Term = str | Literal


class Node:
    """One subject: its properties (predicate IRI -> object terms, as N-Quads text) in the default graph.

    Properties are indexed on first use: a verifier looks at a handful of the dataset's nodes.
    """

    __slots__ = ("_pairs", "_properties", "name")

    def __init__(self, name: str, pairs: list[tuple[str, str]] | None = None) -> None:
        self.name = name
        self._pairs = pairs or []
        self._properties: dict[str, list[str]] | None = None

    @property
    def properties(self) -> dict[str, list[str]]:
        if self._properties is None:
            properties: dict[str, list[str]] = {}
            for predicate, obj in self._pairs:
                properties.setdefault(predicate[1:-1], []).append(obj)
            self._properties = properties
        return self._properties

    def objects(self, predicate: str) -> list[Term]:
        return [_term(raw) for raw in self.properties.get(predicate, [])]

    def types(self) -> list[str]:
        return [_TYPE_TERMS.get(t, t) for t in self.objects(RDF_TYPE) if isinstance(t, str)]

    def one(self, predicate: str, what: str) -> Term | None:
        """The single value of ``predicate`` (None when absent); raises DatasetError for several."""
        values = self.properties.get(predicate, [])
        if len(values) > 1:
            raise DatasetError(f"the signed data has {len(values)} values of {what}")
        return _term(values[0]) if values else None

    def literal(self, predicate: str, what: str) -> Literal | None:
        """The single literal value of ``predicate``; raises DatasetError when it is not a literal."""
        value = self.one(predicate, what)
        if value is not None and not isinstance(value, Literal):
            raise DatasetError(f"{what} in the signed data is not a literal")
        return value


def _unescape(text: str) -> str:
    if "\\" not in text:
        return text
    out: list[str] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char != "\\":
            out.append(char)
            i += 1
            continue
        code = text[i + 1]
        if code in "uU":
            width = 4 if code == "u" else 8
            out.append(chr(int(text[i + 2 : i + 2 + width], 16)))
            i += 2 + width
        else:
            out.append(_ECHAR[code])
            i += 2
    return "".join(out)


def _split_object(rest: str) -> tuple[str, str]:
    """(object term, graph term) of the text after a quad's predicate (without the final " .")."""
    if rest[0] != '"':
        term, _, graph = rest.partition(" ")
        return term, graph
    i = 1
    while rest[i] != '"':
        i += 2 if rest[i] == "\\" else 1
    end = i + 1
    if rest.startswith("^^<", end):
        end = rest.index(">", end) + 1
    elif rest.startswith("@", end):
        space = rest.find(" ", end)
        end = len(rest) if space < 0 else space
    return rest[:end], rest[end:].lstrip(" ")


def _term(raw: str) -> Term:
    """An object term from its N-Quads text: an IRI (without <>), a blank node label, or a Literal."""
    if raw[0] == "<":
        return raw[1:-1]
    if raw[0] == "_":
        return raw
    close = raw.rindex('"')
    lexical = _unescape(raw[1:close])
    tail = raw[close + 1 :]
    if tail.startswith("^^<"):
        return Literal(lexical, tail[3:-1])
    return Literal(lexical)  # a plain or language-tagged string


def _name(raw: str) -> str:
    return raw[1:-1] if raw[0] == "<" else raw


class Nodes:
    """The subjects of a dataset by name (an IRI, or a blank node label), built when asked for."""

    def __init__(self, pairs: dict[str, list[tuple[str, str]]]) -> None:
        self._pairs = pairs  # subject term ("<iri>" or "_:b0") -> [(predicate term, object term)]
        self._nodes: dict[str, Node] = {}

    def get(self, name: str) -> Node | None:
        node = self._nodes.get(name)
        if node is None:
            pairs = self._pairs.get(name if name.startswith("_:") else f"<{name}>")
            if pairs is None:
                return None
            node = self._nodes[name] = Node(name, pairs)
        return node

    def names(self) -> list[str]:
        return [_name(subject) for subject in self._pairs]

    def objects(self) -> Iterable[str]:
        """Every object term of the dataset (N-Quads text)."""
        for pairs in self._pairs.values():
            for _, obj in pairs:
                yield obj


def index_quads(quads: Iterable[tuple[str, str, str, str]]) -> Nodes:
    """Default-graph subjects of quads of N-Quads terms (named graphs, e.g. embedded proofs, are not
    the credential's statements)."""
    pairs: dict[str, list[tuple[str, str]]] = {}
    for subject, predicate, obj, graph in quads:
        if not graph:
            found = pairs.get(subject)
            if found is None:
                pairs[subject] = [(predicate, obj)]
            else:
                found.append((predicate, obj))
    return Nodes(pairs)


def parse_nquads(nquads: str) -> Nodes:
    """Default-graph subjects of N-Quads text (as written by :mod:`credentials.canon`)."""
    quads = []
    for line in nquads.split("\n"):
        if not line:
            continue
        subject, _, rest = line[:-2].partition(" ")  # without the final " ."
        predicate, _, rest = rest.partition(" ")
        obj, graph = _split_object(rest)
        quads.append((subject, predicate, obj, graph))
    return index_quads(quads)


@dataclass(frozen=True)
class StatusEntry:
    """A credentialStatus entry as signed, shaped like its JSON for :func:`credentials.status.read_status`."""

    type: list[str]
    purpose: str | None
    index: str | None
    list_credential: str | None

    def as_json(self) -> dict[str, object]:
        return {
            "type": self.type[0] if len(self.type) == 1 else self.type,
            "statusPurpose": self.purpose,
            "statusListIndex": self.index,
            "statusListCredential": self.list_credential,
        }


@dataclass(frozen=True)
class CredentialView:
    """The facts of one credential as its signature covers them."""

    id: str | None
    types: list[str]
    issuer: str | None  # None when the issuer is a blank node (a Profile without an id)
    valid_from: str | None
    valid_until: str | None
    statuses: list[StatusEntry]
    subjects: list[Node]


def _date(node: Node, predicate: str, what: str) -> str | None:
    value = node.literal(predicate, what)
    if value is None:
        return None
    if value.datatype != XSD_DATETIME:
        raise DatasetError(f"{what} in the signed data is not an xsd:dateTime (datatype {value.datatype})")
    return value.value


def _iri_or_none(term: Term | None, what: str) -> str | None:
    if term is None or (isinstance(term, str) and term.startswith("_:")):
        return None
    if isinstance(term, Literal):
        raise DatasetError(f"{what} in the signed data is a literal, not an IRI")
    return term


def _credential_node(nodes: Nodes, json_id: str | None) -> Node:
    if json_id is not None:
        # The document's own id names its node (other nodes may refer to the credential by it).
        node = nodes.get(json_id)
        if node is None or VERIFIABLE_CREDENTIAL not in node.objects(RDF_TYPE):
            raise DatasetError(f"the signed data has no credential {json_id}")
        return node
    referenced = {_name(obj) for obj in nodes.objects() if obj[0] != '"'}
    candidates = [nodes.get(name) for name in nodes.names() if name not in referenced]
    top = [node for node in candidates if node is not None and VERIFIABLE_CREDENTIAL in node.objects(RDF_TYPE)]
    if len(top) != 1:
        raise DatasetError(f"the signed data describes {len(top)} top-level credentials, not one")
    return top[0]


def _status_entry(nodes: Nodes, name: Term) -> StatusEntry:
    if isinstance(name, Literal):
        raise DatasetError("credentialStatus in the signed data is a literal, not an entry")
    node = nodes.get(name) or Node(name)
    purpose = node.literal(STATUS + "statusPurpose", "statusPurpose")
    index = node.literal(STATUS + "statusListIndex", "statusListIndex")
    url = _iri_or_none(node.one(STATUS + "statusListCredential", "statusListCredential"), "statusListCredential")
    return StatusEntry(
        type=node.types(),
        purpose=purpose.value if purpose else None,
        index=index.value if index else None,
        list_credential=url,
    )


def credential_view(data: str | Iterable[tuple[str, str, str, str]], json_id: str | None = None) -> CredentialView:
    """Read the credential's facts from its N-Quads (text, or quads of N-Quads terms as
    :func:`credentials.canon.canonical_form` returns them); ``json_id`` is the document's ``id``
    (without one, the credential is the one node of type VerifiableCredential nothing refers to).

    Raises :class:`DatasetError` when the data holds no single top-level credential, or a fact has
    several values or the wrong kind of value.
    """
    nodes = parse_nquads(data) if isinstance(data, str) else index_quads(data)
    top = _credential_node(nodes, json_id)
    issuer = _iri_or_none(top.one(CRED + "issuer", "issuer"), "issuer")
    subjects = [nodes.get(name) or Node(name) for name in top.objects(CRED + "credentialSubject") if isinstance(name, str)]
    return CredentialView(
        id=None if top.name.startswith("_:") else top.name,
        types=top.types(),
        issuer=issuer,
        valid_from=_date(top, CRED + "validFrom", "validFrom"),
        valid_until=_date(top, CRED + "validUntil", "validUntil"),
        statuses=[_status_entry(nodes, name) for name in top.objects(CRED + "credentialStatus")],
        subjects=subjects,
    )


def status_list_json(view: CredentialView) -> dict[str, object]:
    """A status list credential's signed facts shaped like its JSON, for ``read_status``.

    Raises :class:`DatasetError` when its subject is ambiguous.
    """
    if len(view.subjects) != 1:
        raise DatasetError(f"the status list credential has {len(view.subjects)} subjects, not one")
    subject = view.subjects[0]
    purpose = subject.literal(STATUS + "statusPurpose", "statusPurpose")
    encoded = subject.literal(STATUS + "encodedList", "encodedList")
    types = subject.types()
    return {
        "id": view.id,
        "type": view.types,
        "credentialSubject": {
            "type": types[0] if len(types) == 1 else types,
            "statusPurpose": purpose.value if purpose else None,
            "encodedList": encoded.value if encoded else None,
        },
    }


def status_list_ttl(view: CredentialView) -> int | None:
    """The list's ``ttl`` in milliseconds (None when absent); raises DatasetError when not an integer."""
    if len(view.subjects) != 1:
        return None
    ttl = view.subjects[0].literal(STATUS + "ttl", "ttl")
    if ttl is None:
        return None
    try:
        return int(ttl.value, 10)
    except ValueError:
        raise DatasetError(f"ttl {ttl.value!r} is not an integer number of milliseconds") from None
