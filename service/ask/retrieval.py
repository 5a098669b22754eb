"""Hybrid retrieval: vector search and BM25 over sentence passages, fused by reciprocal rank."""

from __future__ import annotations

import threading
from collections.abc import Sequence

from rank_bm25 import BM25Okapi

from service.core.text import content_terms
from service.domain.models import Passage, RetrievalFilter, ScoredPassage
from service.domain.ports import DocumentRepository, Embedder, PassageIndex


def reciprocal_rank_fusion(rankings: Sequence[Sequence[str]], k: int = 60) -> list[tuple[str, float]]:
    """Fuse ranked id lists: score(id) = sum over lists of 1 / (k + rank), rank starting at 1."""
    scores: dict[str, float] = {}
    for ranking in rankings:
        for rank, pid in enumerate(ranking, start=1):
            scores[pid] = scores.get(pid, 0.0) + 1.0 / (k + rank)
    return sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))


class _Bm25Index:
    def __init__(self, passages: list[Passage]) -> None:
        self.passages = passages
        corpus = [content_terms(p.text) or ["∅"] for p in passages]
        self.bm25 = BM25Okapi(corpus) if passages else None

    def search(self, query: str, n: int, flt: RetrievalFilter | None) -> list[Passage]:
        terms = content_terms(query)
        if self.bm25 is None or not terms:
            return []
        scores = self.bm25.get_scores(terms)
        order = sorted(range(len(scores)), key=lambda i: -scores[i])
        out = []
        for i in order:
            if scores[i] <= 0:
                break
            if flt is None or flt.admits(self.passages[i]):
                out.append(self.passages[i])
                if len(out) >= n:
                    break
        return out


class HybridRetriever:
    """Vector + BM25 retrieval, fused with RRF, restricted to live documents and the filter.

    The BM25 index is rebuilt lazily when the repository's corpus version changes, so any number of
    stateless API replicas sharing one database and one Chroma server stay consistent.
    """

    def __init__(
        self,
        index: PassageIndex,
        repo: DocumentRepository,
        embedder: Embedder,
        candidates: int = 30,
        rrf_k: int = 60,
    ) -> None:
        self._index = index
        self._repo = repo
        self._embedder = embedder
        self._candidates = candidates
        self._rrf_k = rrf_k
        self._lock = threading.Lock()
        self._version = -1
        self._bm25 = _Bm25Index([])
        self._live: set[str] = set()

    def _refresh(self) -> None:
        version = self._repo.corpus_version()
        with self._lock:
            if version != self._version:
                self._live = self._repo.ids()
                passages = [p for p in self._index.all_passages() if p.document_id in self._live]
                self._bm25 = _Bm25Index(passages)
                self._version = version

    def retrieve(self, query: str, k: int, flt: RetrievalFilter | None = None) -> list[ScoredPassage]:
        """Top-k passages for `query`, best first."""
        self._refresh()
        vector = self._embedder.embed_query(query)
        vhits = [(p, s) for p, s in self._index.search(vector, self._candidates, flt) if p.document_id in self._live]
        lexical = self._bm25.search(query, self._candidates, flt)
        by_id: dict[str, Passage] = {p.id: p for p, _ in vhits}
        by_id.update({p.id: p for p in lexical})
        sims = {p.id: s for p, s in vhits}
        vrank = {p.id: i for i, (p, _) in enumerate(vhits, start=1)}
        brank = {p.id: i for i, p in enumerate(lexical, start=1)}
        fused = reciprocal_rank_fusion([[p.id for p, _ in vhits], [p.id for p in lexical]], self._rrf_k)
        return [
            ScoredPassage(passage=by_id[pid], score=score, vector_rank=vrank.get(pid),
                          bm25_rank=brank.get(pid), similarity=sims.get(pid))
            for pid, score in fused[:k]
        ]  # fmt: skip
