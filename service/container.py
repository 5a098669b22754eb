"""Composition root: builds every component from one Settings object. No module-level singletons."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from functools import cached_property
from pathlib import Path

from sqlalchemy.engine import Engine

from service.adapters.chroma_store import ChromaPassageIndex, make_client
from service.adapters.embeddings import LocalSentenceEmbedder, OpenAIEmbedder
from service.adapters.loaders import load_bytes
from service.adapters.local_runtime import LOCAL_MODELS, LocalLlamaServer, assemble_model
from service.adapters.model_supervisor import ModelSupervisor, RestartPolicy, SupervisorStatus
from service.adapters.openai_chat import OpenAIChatModel
from service.adapters.prompt_files import YamlPromptStore
from service.adapters.response_cache import CachingChatModel
from service.adapters.sql_db import make_engine
from service.adapters.sql_extractions import SqlExtractionStore, extraction_key
from service.adapters.sql_jobs import SqlJobStore
from service.adapters.sql_repository import SqlDocumentRepository
from service.ask.retrieval import HybridRetriever
from service.ask.service import QAService
from service.config import Settings
from service.domain.errors import ModelUnavailable
from service.extract.service import ExtractService
from service.ingest.service import IngestService
from service.summarize.batch import BatchService
from service.summarize.service import SummarizeService

log = logging.getLogger(__name__)

PROMPT_FIELDS = {
    "qa": {"passages", "question"},
    "extract": {"sentences", "instructions", "example"},
    "summarize": {"report", "sentences"},
    "digest": {"summaries", "hints"},
}


class Container:
    """Lazily built components for one Settings; `close()` stops the local model server."""

    def __init__(self, settings: Settings, *, response_cache: Path | None = None) -> None:
        self.settings = settings
        self._response_cache_path = response_cache
        self._supervisor: ModelSupervisor | None = None
        self._closed = False
        self._llm_lock = threading.Lock()
        self.llm_error: str | None = None  # the model could not even be assembled

    # -- storage -----------------------------------------------------------------------------
    @cached_property
    def engine(self) -> Engine:
        return make_engine(self.settings.resolved_database_url)

    @cached_property
    def repo(self) -> SqlDocumentRepository:
        return SqlDocumentRepository(self.engine)

    @cached_property
    def extractions(self) -> SqlExtractionStore:
        return SqlExtractionStore(self.engine)

    @cached_property
    def embedder(self) -> LocalSentenceEmbedder | OpenAIEmbedder:
        s = self.settings
        if s.embedding_backend == "openai":
            return OpenAIEmbedder(
                base_url=s.embedding_base_url,
                api_key=s.embedding_api_key.get_secret_value(),
                model=s.embedding_model,
                timeout_s=s.resolved_llm_timeout_s,
            )
        return LocalSentenceEmbedder(name=s.embedding_model)

    @cached_property
    def index(self) -> ChromaPassageIndex:
        s = self.settings
        client = make_client(s.resolved_chroma_path, s.chroma_url)
        return ChromaPassageIndex(client, s.collection, self.embedder, self.embedder.name)

    @cached_property
    def prompts(self) -> YamlPromptStore:
        return YamlPromptStore(self.settings.prompts_dir, PROMPT_FIELDS)

    # -- model ---------------------------------------------------------------------------------
    def assemble_local_model(self, progress: Callable[[int, int], None] | None = None) -> str:
        """Assemble the configured local GGUF into the data dir (no-op when already verified)."""
        spec = LOCAL_MODELS[self.settings.local_model]
        return str(assemble_model(spec, self.settings.resolved_models_dir, progress))

    def supervisor(self) -> ModelSupervisor:
        """The embedded llama.cpp server under supervision (model assembled on first use), not yet started."""
        s = self.settings
        with self._llm_lock:
            if self._closed:
                raise ModelUnavailable("Dossier is shutting down")
            if self._supervisor is None:
                path = self.assemble_local_model()
                server = LocalLlamaServer(
                    model_path=Path(path),
                    alias=s.chat_model_name,
                    n_ctx=s.local_ctx,
                    n_threads=s.local_threads,
                    n_batch=s.local_batch,
                    seed=s.llm_seed,
                    log_path=s.data_dir / "logs" / "llama-server.log",
                    startup_timeout_s=s.local_startup_timeout_s,
                )
                policy = RestartPolicy(
                    backoff_base_s=s.local_restart_backoff_s,
                    max_restarts=s.local_max_restarts,
                    window_s=s.local_restart_window_s,
                )
                self._supervisor = ModelSupervisor(server, policy, restart_wait_s=s.local_restart_wait_s)
            return self._supervisor

    def llm_base_url(self) -> str:
        """Configured base URL, or the embedded server's (started on first use; waits through a restart)."""
        s = self.settings
        if s.llm_base_url:
            return s.llm_base_url
        return self.supervisor().base_url(wait_s=s.local_startup_timeout_s)

    def llm_status(self) -> SupervisorStatus | None:
        """The embedded server's state (None for a configured endpoint or before it was first asked for)."""
        return None if self.settings.llm_base_url or self._supervisor is None else self._supervisor.status()

    def llm_ready(self) -> bool:
        """True when a configured endpoint is set or the embedded server passed its self-test and runs."""
        if self.settings.llm_base_url:
            return True
        return self._supervisor is not None and self._supervisor.ready()

    def start_llm_in_background(self) -> threading.Thread:
        def run() -> None:
            try:
                self.supervisor().start()
            except Exception as exc:  # surfaced by /readyz
                self.llm_error = str(exc)
                log.exception("local model failed to start")

        t = threading.Thread(target=run, name="llm-start", daemon=True)
        t.start()
        return t

    @cached_property
    def chat(self) -> OpenAIChatModel | CachingChatModel:
        model = self._openai_chat()
        if self._response_cache_path is None:
            return model
        s = self.settings
        identity = {
            "model": s.chat_model_name, "endpoint": s.llm_base_url or "embedded", "ctx": s.local_ctx,
            "temperature": s.llm_temperature, "seed": s.llm_seed, "structured_output": model.structured_mode,
        }  # fmt: skip
        return CachingChatModel(model, self._response_cache_path, identity)

    def _openai_chat(self) -> OpenAIChatModel:
        s = self.settings
        mode = s.structured_output
        if mode == "auto":
            mode = "json_object_schema" if s.uses_local_llm else "json_schema"
        return OpenAIChatModel(
            base_url=self.llm_base_url, api_key=s.llm_api_key.get_secret_value(), model=s.chat_model_name,
            timeout_s=s.resolved_llm_timeout_s, max_attempts=s.llm_max_attempts, backoff_max_s=s.llm_backoff_max_s,
            structured_mode=mode, temperature=s.llm_temperature, seed=s.llm_seed,
        )  # fmt: skip

    # -- services ------------------------------------------------------------------------------
    @cached_property
    def ingest(self) -> IngestService:
        return IngestService(self.repo, self.index, self.embedder, load_bytes, self.settings.max_upload_bytes)

    @cached_property
    def retriever(self) -> HybridRetriever:
        return HybridRetriever(self.index, self.repo, self.embedder, self.settings.retrieval_candidates)

    @cached_property
    def qa(self) -> QAService:
        s = self.settings
        return QAService(
            self.retriever,
            self.repo,
            self.chat,
            self.prompts,
            settings_hash=s.settings_hash(),
            passages=s.qa_passages,
            min_similarity=s.min_similarity,
            max_question_chars=s.max_question_chars,
            verify=s.verify_citations,
        )

    @cached_property
    def extract(self) -> ExtractService:
        s = self.settings
        return ExtractService(
            self.repo,
            self.extractions,
            self.chat,
            self.prompts,
            extraction_key,
            settings_hash=s.settings_hash(),
            window_chars=s.extract_window_chars,
        )

    @cached_property
    def jobs(self) -> SqlJobStore:
        return SqlJobStore(self.engine)

    @cached_property
    def summarizer(self) -> SummarizeService:
        s = self.settings
        return SummarizeService(
            self.chat,
            self.prompts,
            self.extractions,
            settings_hash=s.settings_hash(),
            window_chars=s.summary_window_chars,
        )

    @cached_property
    def batches(self) -> BatchService:
        return BatchService(self.repo, self.jobs, self.summarizer, concurrency=self.settings.summary_concurrency)

    def close(self) -> None:
        chat = self.__dict__.get("chat")
        if isinstance(chat, CachingChatModel):
            chat.close()
        with self._llm_lock:
            self._closed = True  # a job thread still running can't start a server nobody would stop
            supervisor, self._supervisor = self._supervisor, None
        if supervisor is not None:
            supervisor.stop()
