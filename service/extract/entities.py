"""Entities across reports: every report's entity facts, resolved into one entity per real-world thing.

Each report's newest extraction already holds its entities merged within the report (name and aliases). Across
reports, two of them are one entity when a calibrated pair decision says so: P(same) from measured signals of
their names (token-set similarity, one name's words within the other's, the cosine of their embeddings), fit by
logistic regression on the dev entity pairs (`prompts/entity_calibrator/vN.yaml`, `dossier eval --suite entities`
reports dev and held-out pairwise F1), over a threshold the caller may set. No table of names takes part. Linked
reports form an entity through the links' transitive closure; its confidence is the weakest link that joined it.
Computed from the stored extractions on each request (only pairs whose names share a word or are near neighbours
by embedding are scored; the last resolution is reused while nothing changed), so re-extracting or deleting a
report changes the entities at once.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from rapidfuzz import fuzz

from service.core.calibration import Calibrator
from service.domain.errors import NotFound
from service.domain.facts import Entity, EntityMention, Evidence
from service.domain.ports import DocumentRepository, Embedder
from service.extract.merge import name_key
from service.extract.service import ExtractService

SIGNALS = ("token_set", "contained", "cosine")
NEIGHBOURS = 10  # names compared by embedding: each name's nearest, besides every name sharing a word with it
VECTOR_CACHE = 100_000
PAIR_CACHE = 1_000_000
WORD_GROUP = 50  # a word shared by more reports' entities than this is no evidence of identity: left to embeddings


def name_signals(a: str, b: str, va: Sequence[float], vb: Sequence[float]) -> dict[str, float | None]:
    """The measured likeness of two names: token-set similarity of their comparison keys (0-1), whether the
    words of one are all among the other's (1/0), and the cosine of their embeddings."""
    ka, kb = name_key(a), name_key(b)
    ta, tb = set(re.findall(r"\w+", ka)), set(re.findall(r"\w+", kb))
    norm = math.sqrt(sum(x * x for x in va) * sum(y * y for y in vb)) or 1.0
    return {
        "token_set": fuzz.token_set_ratio(ka, kb) / 100.0,
        "contained": float(bool(ta and tb) and (ta <= tb or tb <= ta)),
        "cosine": sum(x * y for x, y in zip(va, vb, strict=True)) / norm,
    }


@dataclass
class _Node:
    """One report's entity: its names (the fact's name first), type and evidence."""

    document_id: str
    title: str
    reported: dt.date
    names: list[str]
    type: str | None
    evidence: list[Evidence]


class EntityService:
    """Resolves and serves the entities of the reports a caller sees."""

    def __init__(
        self,
        extract: ExtractService,
        repo: DocumentRepository,
        embedder: Embedder,
        calibrator: Calibrator,
        *,
        schema_id: str,
        min_confidence: float | None = None,
    ) -> None:
        self._extract = extract
        self._repo = repo
        self._embedder = embedder
        self._calibrator = calibrator
        self._schema_id = schema_id
        self._min_confidence = min_confidence
        self._lock = threading.Lock()
        self._vector_cache: dict[str, list[float]] = {}
        self._pair_cache: dict[tuple[str, str], float] = {}
        self._memo: tuple[object, list[Entity]] | None = None

    @property
    def default_threshold(self) -> float:
        """The configured threshold, else the calibrator's own (chosen on dev pairs)."""
        return self._calibrator.threshold if self._min_confidence is None else self._min_confidence

    @property
    def calibrator_ref(self) -> str:
        """The calibrator artefact (`entity_calibrator/vN`) that decides which reports' entities are one."""
        return self._calibrator.ref

    def same(self, a: Sequence[str], b: Sequence[str], vectors: dict[str, list[float]]) -> float:
        """P(same entity) for two sets of names: the best-scoring pair of one name from each (each pair's score is
        kept, so a new threshold or another caller's collections re-scores nothing)."""
        best = 0.0
        for x in a:
            for y in b:
                pair = (x, y) if x <= y else (y, x)
                with self._lock:
                    p = self._pair_cache.get(pair)
                if p is None:
                    scored = self._calibrator.score(name_signals(x, y, vectors[x], vectors[y]))
                    p = scored.confidence if scored else 0.0
                    with self._lock:
                        if len(self._pair_cache) >= PAIR_CACHE:
                            self._pair_cache.clear()
                        self._pair_cache[pair] = p
                best = max(best, p)
        return best

    def vectors(self, names: Sequence[str]) -> dict[str, list[float]]:
        """Each name's embedding (kept between requests: names recur in every resolution)."""
        wanted = set(names)
        with self._lock:
            found = {n: self._vector_cache[n] for n in wanted if n in self._vector_cache}
        missing = sorted(wanted - found.keys())
        if missing:
            found |= dict(zip(missing, self._embedder.embed_documents(missing), strict=True))
            with self._lock:
                if len(self._vector_cache) + len(missing) > VECTOR_CACHE:
                    self._vector_cache.clear()
                self._vector_cache.update({n: found[n] for n in missing})
        return found

    def resolve(self, collections: list[str] | None, threshold: float | None = None) -> list[Entity]:
        """Every entity of the reports in `collections` (None: all), most reported first. The last resolution is
        kept while the reports' extractions, the collections and the threshold stay the same."""
        cut = self.default_threshold if threshold is None else threshold
        nodes = self._nodes(collections)
        key = (tuple(collections or ()), collections is None, cut, tuple(_signature(n) for n in nodes))
        with self._lock:
            if self._memo is not None and self._memo[0] == key:
                return list(self._memo[1])
        out = self._resolve(nodes, cut)
        with self._lock:
            self._memo = (key, out)
        return list(out)

    def _resolve(self, nodes: list[_Node], cut: float) -> list[Entity]:
        vectors = self.vectors([n for node in nodes for n in node.names])
        parent = list(range(len(nodes)))
        weakest = [1.0] * len(nodes)

        def root(i: int) -> int:
            while parent[i] != i:
                parent[i] = parent[parent[i]]
                i = parent[i]
            return i

        for i, j in _candidates(nodes, vectors):
            p = self.same(nodes[i].names, nodes[j].names, vectors)
            if p >= cut:
                ri, rj = root(i), root(j)
                if ri != rj:
                    parent[rj] = ri
                    weakest[ri] = min(weakest[ri], weakest[rj], p)
                else:
                    weakest[ri] = min(weakest[ri], p)
        groups: dict[int, list[_Node]] = {}
        for i, node in enumerate(nodes):
            groups.setdefault(root(i), []).append(node)
        out = [_entity(members, weakest[r], self._calibrator.ref) for r, members in groups.items()]
        return sorted(out, key=lambda e: (-e.documents, -len(e.mentions), e.name.lower(), e.id))

    def find(
        self,
        collections: list[str] | None,
        *,
        name: str | None = None,
        type: str | None = None,
        threshold: float | None = None,
    ) -> list[Entity]:
        """Entities filtered by name or alias (case-insensitive substring) and type."""
        found = self.resolve(collections, threshold)
        if name:
            needle = name.lower()
            found = [e for e in found if any(needle in n.lower() for n in [e.name, *e.aliases])]
        if type:
            found = [e for e in found if (e.type or "").lower() == type.lower()]
        return found

    def get(self, entity_id: str, collections: list[str] | None, threshold: float | None = None) -> Entity:
        for e in self.resolve(collections, threshold):
            if e.id == entity_id:
                return e
        raise NotFound(f"entity {entity_id!r} does not exist (or its reports changed since it was listed)")

    def _nodes(self, collections: list[str] | None) -> list[_Node]:
        docs = {d.id: d for d in self._repo.list(collections)}
        out = []
        for doc_id, title, kind, fact in self._extract.query(self._schema_id, type="entities", collections=collections):
            if kind != "entities" or not fact.fields.get("name"):
                continue
            doc = docs.get(doc_id)
            if doc is None:  # deleted between the two reads
                continue
            names = [str(fact.fields["name"]), *[str(a) for a in fact.fields.get("aliases") or [] if a]]
            reported = doc.published or doc.created_at.date()
            out.append(_Node(doc_id, title, reported, names, fact.fields.get("type"), fact.evidence))
        return out


def _signature(node: _Node) -> tuple[object, ...]:
    return (
        node.document_id,
        node.reported,
        tuple(node.names),
        node.type,
        tuple((e.start, e.end) for e in node.evidence),
    )


def _candidates(nodes: list[_Node], vectors: dict[str, list[float]]) -> list[tuple[int, int]]:
    """The pairs of reports' entities worth scoring (never two of one report): those whose names share a word,
    and each name's `NEIGHBOURS` nearest names by embedding. Every other pair has neither shared words nor close
    embeddings, the signals P(same) grows with, so scoring all n^2 pairs is not needed."""
    owners: list[int] = []
    names: list[str] = []
    by_word: dict[str, set[int]] = {}
    for i, node in enumerate(nodes):
        for name in node.names:
            owners.append(i)
            names.append(name)
            for word in set(re.findall(r"\w+", name_key(name))):
                by_word.setdefault(word, set()).add(i)
    pairs: set[tuple[int, int]] = set()
    for members in by_word.values():
        if len(members) > WORD_GROUP:
            continue
        ordered = sorted(members)
        pairs |= {(a, b) for n, a in enumerate(ordered) for b in ordered[n + 1 :]}
    if len(names) > 1:
        matrix = np.asarray([vectors[n] for n in names], dtype=np.float32)
        matrix /= np.linalg.norm(matrix, axis=1, keepdims=True).clip(min=1e-9)
        k = min(NEIGHBOURS, len(names) - 1)
        for start in range(0, len(names), 1024):  # a block of rows at a time: memory stays O(block x names)
            sims = matrix[start : start + 1024] @ matrix.T
            nearest = np.argpartition(-sims, k, axis=1)[:, : k + 1]
            for row, cols in enumerate(nearest):
                a = owners[start + row]
                pairs |= {(min(a, owners[c]), max(a, owners[c])) for c in cols.tolist()}
    return sorted((a, b) for a, b in pairs if a != b and nodes[a].document_id != nodes[b].document_id)


def _entity(members: list[_Node], weakest: float, calibrator: str) -> Entity:
    names = [n for m in members for n in m.names]
    keys = sorted(
        {
            f"{m.document_id}|{name_key(m.names[0])}|{m.type}|{m.evidence[0].start if m.evidence else -1}"
            for m in members
        }
    )
    canonical = max(
        (m.names[0] for m in members), key=lambda n: (sum(name_key(x) == name_key(n) for x in names), len(n))
    )
    aliases = sorted({n for n in names if name_key(n) != name_key(canonical)}, key=str.lower)
    types = [m.type for m in members if m.type]
    dates = [m.reported for m in members]
    mentions = [
        EntityMention(
            document_id=m.document_id, document_title=m.title, reported=m.reported, name=m.names[0], evidence=m.evidence
        )
        for m in sorted(members, key=lambda m: (m.reported, m.document_id))
    ]
    return Entity(
        id="ent_" + hashlib.sha256("\n".join(keys).encode()).hexdigest()[:16],
        name=canonical,
        aliases=aliases,
        type=max(set(types), key=lambda t: (types.count(t), t)) if types else None,
        documents=len({m.document_id for m in members}),
        first_reported=min(dates),
        last_reported=max(dates),
        confidence=round(weakest, 4),
        calibrator=calibrator,
        mentions=mentions,
    )
