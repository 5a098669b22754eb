"""Hybrid retrieval: vector search and lexical (BM25) search over sentence passages, fused by reciprocal rank."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from service.domain.models import Passage, RetrievalFilter, ScoredPassage
from service.domain.ports import DocumentRepository, Embedder, LexicalIndex, PassageIndex


def reciprocal_rank_fusion(rankings: Sequence[Sequence[str]], k: int = 60) -> list[tuple[str, float]]:
    """Fuse ranked id lists: score(id) = sum over lists of 1 / (k + rank), rank starting at 1."""
    scores: dict[str, float] = {}
    for ranking in rankings:
        for rank, pid in enumerate(ranking, start=1):
            scores[pid] = scores.get(pid, 0.0) + 1.0 / (k + rank)
    return sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))


class HybridRetriever:
    """Vector + lexical retrieval, fused with RRF, restricted to live documents and the filter.

    Both indexes live in real engines shared by every replica (Chroma; FTS5 or Postgres full-text search), and
    a write touches only its document's rows: nothing is rebuilt when the corpus changes. A vector hit whose
    document row is gone (a crash mid-ingest, before reconciliation) is dropped by one lookup of the candidates.
    """

    def __init__(
        self,
        index: PassageIndex,
        lexical: LexicalIndex,
        repo: DocumentRepository,
        embedder: Embedder,
        candidates: int = 30,
        rrf_k: int = 60,
    ) -> None:
        self._index = index
        self._lexical = lexical
        self._repo = repo
        self._embedder = embedder
        self._candidates = candidates
        self._rrf_k = rrf_k
        self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="lexical")

    def retrieve(self, query: str, k: int, flt: RetrievalFilter | None = None) -> list[ScoredPassage]:
        """Top-k passages for `query`, best first. The lexical search runs in a thread beside the embedding and
        the vector search (both engines release the GIL), so the latency is the slower of the two, not the sum."""
        lexical_hits = self._pool.submit(self._lexical.search, query, self._candidates, flt)
        vector = self._embedder.embed_query(query)
        vhits = self._index.search(vector, self._candidates, flt)
        lexical = lexical_hits.result()
        live = self._repo.existing([p.document_id for p, _ in vhits] + [p.document_id for p in lexical])
        vhits = [(p, s) for p, s in vhits if p.document_id in live]
        lexical = [p for p in lexical if p.document_id in live]
        by_id: dict[str, Passage] = {p.id: p for p, _ in vhits}
        by_id.update({p.id: p for p in lexical})
        sims = {p.id: s for p, s in vhits}
        vrank = {p.id: i for i, (p, _) in enumerate(vhits, start=1)}
        brank = {p.id: i for i, p in enumerate(lexical, start=1)}
        fused = reciprocal_rank_fusion([[p.id for p, _ in vhits], [p.id for p in lexical]], self._rrf_k)
        return [
            ScoredPassage(
                passage=by_id[pid],
                score=score,
                vector_rank=vrank.get(pid),
                bm25_rank=brank.get(pid),
                similarity=sims.get(pid),
            )
            for pid, score in fused[:k]
        ]
