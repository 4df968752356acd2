"""RDF Dataset Canonicalization (RDFC-1.0 with SHA-256) of quads of N-Quads terms.

:func:`canonicalize_quads` is a transcription of the W3C algorithm (sections 4.4 to 4.8) over the
quads :func:`credentials.jsonld_to_rdf.to_quads` and
:func:`~credentials.jsonld_to_rdf.reference_quads` return, writing the canonical N-Quads text (blank
nodes relabelled ``_:c14n0``, ..., lines in code point order). :func:`canonicalize_with_oxigraph`
gives pyoxigraph's RDFC-1.0 of the same quads, kept as an oracle for tests.

Raises: :func:`canonicalize_quads` raises :class:`~credentials.errors.JsonLdProcessingError` when
the dataset needs more than ``_NDEGREE_BUDGET`` n-degree hashing steps (a "poison" dataset crafted to
make RDFC-1.0 explode), and nothing else. :func:`canonicalize_with_oxigraph` raises
:class:`~credentials.nquads.Unsupported` when pyoxigraph cannot read the quads.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Iterable

from credentials.errors import JsonLdProcessingError
from credentials.nquads import Quad, Unsupported, nquad_line


class _Issuer:
    """RDFC-1.0 identifier issuer: old label -> new label, in order of issue. Labels are kept as
    blank node terms ("_:c14n0"), the form every use of them writes."""

    __slots__ = ("issued", "prefix")

    def __init__(self, prefix: str, issued: dict[str, str] | None = None) -> None:
        self.prefix = prefix  # "_:c14n" or "_:b"
        self.issued: dict[str, str] = {} if issued is None else issued

    def issue(self, old: str) -> str:
        """The label of ``old``, issuing the next one if it has none yet."""
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
            self._mention(bnode, quad, nquad_line(s2, p, o2, g2))

    def hash_first_degree(self, bnode: str) -> str:
        """Hash First Degree Quads (4.6), cached: each blank node's lines are sorted only once."""
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
        """Hash N-Degree Quads (4.8): the hash and the issuer of the chosen permutations."""
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
        """The canonicalization algorithm (4.4): label by unique first-degree hashes, then by n-degree
        hashes for blank nodes that share one; the canonical N-Quads."""
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


def canonicalize_quads(quads: Iterable[Quad]) -> str:
    """RDFC-1.0 canonical N-Quads of the dataset ``quads`` make (a repeated quad counts once).

    Raises :class:`~credentials.errors.JsonLdProcessingError` when the n-degree budget is spent.
    """
    return _Rdfc10(dict.fromkeys(quads)).run()  # a dataset is a set of quads


def canonicalize_with_oxigraph(quads: list[Quad]) -> str:
    """pyoxigraph's RDFC-1.0 canonical N-Quads of ``quads`` (distinct quads), for tests."""
    import pyoxigraph as ox  # the oracle only: signing and verifying never load it

    # pyoxigraph writes canonical N-Quads with RDFC-1.0 escaping, so its lines are the canonical lines.
    text = "".join(nquad_line(s, p, o, g) for s, p, o, g in quads)
    try:
        dataset = ox.Dataset(ox.parse(text.encode("utf-8"), format=ox.RdfFormat.N_QUADS))
    except (SyntaxError, ValueError) as exc:
        raise Unsupported("pyoxigraph cannot read the quads") from exc
    dataset.canonicalize(ox.CanonicalizationAlgorithm.RDFC_1_0)
    out = ox.serialize(dataset, format=ox.RdfFormat.N_QUADS)
    if out is None:  # pragma: no cover - serialize returns bytes when no output is given
        raise Unsupported("pyoxigraph wrote nothing")
    # split on "\n" only: str.splitlines() would also split inside literals (U+0085, U+2028, ...)
    lines = [f"{line}\n" for line in out.decode("utf-8").split("\n") if line]
    lines.sort()
    return "".join(lines)
