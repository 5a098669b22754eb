"""In-memory fakes of the embedding and vector-index ports, for fast unit tests of the services.

They honour the ports' contracts (tests/test_index_contract.py runs the same checks against them and against
real Chroma), so a service test on them tests the service, not the store. End-to-end and concurrency tests
keep real Chroma and the real embedding model.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import re
import threading
from collections.abc import Sequence

from service.domain.models import Passage, RetrievalFilter

_WORD = re.compile(r"[a-z0-9]+")


class HashingEmbedder:
    """Hashed bag of words (and word pairs), L2-normalised: instant and deterministic; shared words mean similarity."""

    def __init__(self, dim: int = 512, name: str = "hashing-test-embedder") -> None:
        self.dim = dim
        self._name = name

    @property
    def name(self) -> str:
        return self._name

    def _vector(self, text: str) -> list[float]:
        words = _WORD.findall(text.lower())
        vec = [0.0] * self.dim
        for feature in words + [f"{a} {b}" for a, b in itertools.pairwise(words)]:
            digest = hashlib.blake2b(feature.encode(), digest_size=8).digest()
            vec[int.from_bytes(digest[:4], "big") % self.dim] += 1.0 if digest[4] % 2 else -1.0
        norm = math.sqrt(sum(x * x for x in vec)) or 1.0
        return [x / norm for x in vec]

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [self._vector(t) for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return self._vector(text)


class InMemoryPassageIndex:
    """PassageIndex in a dict: cosine similarity by brute force, filters through RetrievalFilter.admits."""

    def __init__(self) -> None:
        self._rows: dict[str, tuple[Passage, list[float]]] = {}
        self._lock = threading.Lock()

    def upsert(self, passages: Sequence[Passage], embeddings: Sequence[Sequence[float]]) -> None:
        if len(passages) != len(embeddings):
            raise ValueError("one embedding per passage")
        with self._lock:
            for p, e in zip(passages, embeddings, strict=True):
                self._rows[p.id] = (p, list(e))

    def delete_document(self, document_id: str) -> None:
        with self._lock:
            for pid in [pid for pid, (p, _) in self._rows.items() if p.document_id == document_id]:
                del self._rows[pid]

    def search(self, vector: Sequence[float], k: int, flt: RetrievalFilter | None) -> list[tuple[Passage, float]]:
        with self._lock:
            rows = list(self._rows.values())
        norm = math.sqrt(sum(x * x for x in vector)) or 1.0
        scored = []
        for p, e in rows:
            if flt is not None and not flt.admits(p):
                continue
            cos = sum(a * b for a, b in zip(vector, e, strict=True)) / norm
            scored.append((p, max(0.0, min(1.0, cos))))
        scored.sort(key=lambda pe: (-pe[1], pe[0].id))
        return scored[:k]

    def all_passages(self) -> list[Passage]:
        with self._lock:
            return [p for p, _ in self._rows.values()]

    def count(self) -> int:
        with self._lock:
            return len(self._rows)
