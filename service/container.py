"""Composition root: builds every component from one Settings object. No module-level singletons."""

from __future__ import annotations

import logging
from functools import cached_property
from pathlib import Path

from sqlalchemy.engine import Engine

from service.access.service import KeyService
from service.adapters.files.loaders import load_bytes
from service.adapters.files.prompts import YamlPromptStore
from service.adapters.llm.endpoint import LlmEndpoint
from service.adapters.llm.openai_chat import OpenAIChatModel
from service.adapters.llm.response_cache import CachingChatModel
from service.adapters.queue.local import LocalJobQueue
from service.adapters.sql.db import make_engine
from service.adapters.sql.extractions import SqlExtractionStore, extraction_key
from service.adapters.sql.jobs import SqlJobStore
from service.adapters.sql.keys import SqlKeyStore
from service.adapters.sql.lexical import SqlLexicalIndex
from service.adapters.sql.repository import SqlDocumentRepository
from service.adapters.vectors.embeddings import LocalSentenceEmbedder, OpenAIEmbedder
from service.ask.chat import Conversation
from service.ask.retrieval import HybridRetriever
from service.ask.service import QAService
from service.config import Settings
from service.core.calibration import Calibrator
from service.core.comparing import PairJudge
from service.core.turns import ModelTurns, TurnTakingChat
from service.domain.errors import ConfigurationError
from service.domain.ports import ChatModel, Embedder, JobQueue, JobSteps, PassageIndex
from service.domain.summaries import JobKind
from service.extract.corroboration import CorroborationService
from service.extract.disagreements import DisagreementService
from service.extract.entities import EntityService
from service.extract.jobs import ExtractionJobs
from service.extract.schemas import REPORT_FACTS
from service.extract.service import ExtractService
from service.extract.statements import StatementPairs
from service.ingest.service import IngestService
from service.summarize.batch import BatchService
from service.summarize.service import SummarizeService

log = logging.getLogger(__name__)


class Container:
    """Lazily built components for one Settings; `close()` stops the local model server."""

    def __init__(
        self,
        settings: Settings,
        *,
        response_cache: Path | None = None,
        embedder: Embedder | None = None,
        index: PassageIndex | None = None,
    ) -> None:
        """`embedder` and `index` replace the configured adapters (in-memory fakes in unit tests)."""
        self.settings = settings
        self._response_cache_path = response_cache
        self.response_cache: CachingChatModel | None = None  # set when `chat` is built with a cache path
        if embedder is not None:
            self.__dict__["embedder"] = embedder
        if index is not None:
            self.__dict__["index"] = index

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
    def access(self) -> KeyService:
        """API keys and the authentication of requests (keyless only on loopback with no key)."""
        return KeyService(SqlKeyStore(self.engine), host=self.settings.host, require_keys=self.settings.require_keys)

    @cached_property
    def embedder(self) -> Embedder:
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
    def index(self) -> PassageIndex:
        from service.adapters.vectors.chroma import ChromaPassageIndex, make_client  # chromadb loads only when used

        s = self.settings
        client = make_client(s.resolved_chroma_path, s.chroma_url)
        return ChromaPassageIndex(client, s.collection, self.embedder.name)

    @cached_property
    def prompts(self) -> YamlPromptStore:
        return YamlPromptStore(self.settings.prompts_dir)

    # -- model ---------------------------------------------------------------------------------
    @cached_property
    def llm(self) -> LlmEndpoint:
        """The chat model's endpoint (configured URL, or the supervised embedded server)."""
        return LlmEndpoint(self.settings)

    @cached_property
    def turns(self) -> ModelTurns:
        """Turns on the chat model: a request's calls run back to back (`DOSSIER_LLM_CONCURRENCY` at once)."""
        return ModelTurns(self.settings.model_turns)

    @cached_property
    def chat(self) -> ChatModel:
        """The chat model port: the OpenAI-compatible adapter (behind the eval response cache when one is set),
        each call in a model turn."""
        return TurnTakingChat(self._cached_chat(), self.turns)

    def _cached_chat(self) -> ChatModel:
        model = self._openai_chat()
        if self._response_cache_path is None:
            return model
        s = self.settings
        identity = {
            "model": s.chat_model_name,
            "endpoint": s.llm_base_url or "embedded",
            "ctx": s.local_ctx,
            "temperature": s.llm_temperature,
            "seed": s.llm_seed,
            "structured_output": model.structured_mode,
        }
        self.response_cache = CachingChatModel(model, self._response_cache_path, identity)
        return self.response_cache

    def _openai_chat(self) -> OpenAIChatModel:
        s = self.settings
        mode = s.structured_output
        if mode == "auto":
            mode = "json_object_schema" if s.uses_local_llm else "json_schema"
        return OpenAIChatModel(
            base_url=self.llm.base_url,
            api_key=s.llm_api_key.get_secret_value(),
            model=s.chat_model_name,
            timeout_s=s.resolved_llm_timeout_s,
            max_attempts=s.llm_max_attempts,
            backoff_max_s=s.llm_backoff_max_s,
            structured_mode=mode,
            temperature=s.llm_temperature,
            seed=s.llm_seed,
        )

    # -- services ------------------------------------------------------------------------------
    @cached_property
    def ingest(self) -> IngestService:
        return IngestService(
            self.repo, self.index, self.lexical, self.embedder, load_bytes, self.settings.max_upload_bytes
        )

    @cached_property
    def lexical(self) -> SqlLexicalIndex:
        """The lexical index, in the documents' database (FTS5 or Postgres full-text search)."""
        return SqlLexicalIndex(self.engine)

    @cached_property
    def retriever(self) -> HybridRetriever:
        return HybridRetriever(self.index, self.lexical, self.repo, self.embedder, self.settings.retrieval_candidates)

    @cached_property
    def qa(self) -> QAService:
        s = self.settings
        calibrator = Calibrator(self.prompts.calibrator("qa_calibrator", s.qa_calibrator_version))
        prompt = self.prompts.get("qa")
        lo, hi = s.qa_verify_band
        alone = {f"p_{n}" for n in prompt.judge_names(alone=True)}
        if lo <= hi and alone and not any(alone & set(m.features) for m in calibrator.spec.models):
            log.warning(
                "DOSSIER_QA_VERIFY_BAND asks %s, but %s has no model that uses them: the calls are recorded (for a "
                "dev run to fit one) and change no decision",
                sorted(alone),
                calibrator.ref,
            )
        return QAService(
            self.retriever,
            self.repo,
            self.chat,
            prompt,
            calibrator,
            settings_hash=s.settings_hash(),
            passages=s.qa_passages,
            min_similarity=s.min_similarity,
            max_question_chars=s.max_question_chars,
            min_confidence=s.qa_min_confidence,
            verify=s.verify_citations,
            turns=self.turns,
            verify_band=s.qa_verify_band,
        )

    @cached_property
    def conversation(self) -> Conversation:
        """Follow-ups of the OpenAI-compatible chat endpoint, rewritten to stand alone."""
        return Conversation(self.chat, self.prompts, max_question_chars=self.settings.max_question_chars)

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
    def entities(self) -> EntityService:
        """Entities resolved across the reports' stored extractions."""
        s = self.settings
        spec = self.prompts.calibrator("entity_calibrator", s.entity_calibrator_version)
        fitted_with = spec.fit.get("embedding")
        if fitted_with and fitted_with != self.embedder.name:
            log.warning(
                "%s was fit on %s embeddings, not %s: run `dossier calibrate-entities`",
                spec.ref,
                fitted_with,
                self.embedder.name,
            )
        return EntityService(
            self.extract,
            self.repo,
            self.embedder,
            Calibrator(spec),
            schema_id=REPORT_FACTS.id,
            min_confidence=s.entity_min_confidence,
        )

    @cached_property
    def pair_judge(self) -> PairJudge:
        """Judges whether two reports' statements contradict (disagreements, digests) or agree (corroboration)."""
        prompt = self.prompts.get("compare")
        specs = [
            self.prompts.calibrator("claim_calibrator", self.settings.claim_calibrator_version),
            self.prompts.calibrator("agree_calibrator", self.settings.agree_calibrator_version),
        ]
        for spec in specs:
            if spec.fit.get("prompt") not in (None, prompt.ref):
                log.warning(
                    "%s was fit on %s, not %s: run `dossier calibrate-claims`", spec.ref, spec.fit["prompt"], prompt.ref
                )
        return PairJudge(self.chat, prompt, Calibrator(specs[0]), Calibrator(specs[1]))

    @cached_property
    def statement_pairs(self) -> StatementPairs:
        """Reports' statements and their candidate pairs, judged once for disagreements and corroboration."""
        s = self.settings
        return StatementPairs(
            self.extract,
            self.repo,
            self.embedder,
            self.pair_judge,
            schema_id=REPORT_FACTS.id,
            max_pairs=s.disagreement_max_pairs,
        )

    @cached_property
    def disagreements(self) -> DisagreementService:
        """Disagreements between reports' stored facts, judged by the model and calibrated."""
        s = self.settings
        return DisagreementService(
            self.statement_pairs, settings_hash=s.settings_hash(), min_confidence=s.disagreement_min_confidence
        )

    @cached_property
    def corroboration(self) -> CorroborationService:
        """Other reports that state a stored fact too, judged by the model and calibrated."""
        s = self.settings
        return CorroborationService(
            self.statement_pairs, settings_hash=s.settings_hash(), min_confidence=s.corroboration_min_confidence
        )

    @cached_property
    def extract_jobs(self) -> ExtractionJobs:
        """Extractions of long reports, run as jobs."""
        return ExtractionJobs(self.jobs, self.extract)

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
            tail_min=s.summary_tail_min_sentences,
            tail_calls=s.summary_tail_max_calls,
            judge=self.pair_judge,
            embedder=self.embedder,
            conflict_threshold=s.disagreement_min_confidence,
            sentence_confidence=s.summary_confidence,
        )

    @cached_property
    def batches(self) -> BatchService:
        return BatchService(self.repo, self.jobs, self.summarizer, concurrency=self.settings.summary_concurrency)

    @cached_property
    def job_steps(self) -> dict[JobKind, JobSteps]:
        """Each kind of job's work in steps, for the queue."""
        b, x = self.batches, self.extract_jobs
        return {
            "summaries": JobSteps(start=b.start, item=b.item, finish=b.finish, run=b.run),
            "extraction": JobSteps(start=x.start, item=x.item, finish=x.finish, run=x.run),
        }

    @cached_property
    def queue(self) -> JobQueue:
        """Where jobs run: this process (`local`), or `dossier worker` processes fed through Postgres."""
        s = self.settings
        if s.queue == "local":
            return LocalJobQueue(self.job_steps)
        from service.adapters.queue.postgres import PostgresJobQueue  # procrastinate loads only when used

        try:
            queue = PostgresJobQueue(s.resolved_database_url, self.job_steps)
        except ValueError as exc:
            raise ConfigurationError(f"DOSSIER_QUEUE=postgres: {exc}") from exc
        queue.prepare()
        return queue

    def resume_jobs(self) -> int:
        """Submit every job left unfinished by a runner that is gone; how many."""
        left = [j for j in (self.jobs.get(i) for i in self.jobs.unfinished()) if j is not None]
        return sum(self.queue.submit(job.id, job.kind) for job in left)

    def close(self) -> None:
        queue = self.__dict__.get("queue")
        if queue is not None:
            queue.close()
        if self.response_cache is not None:
            self.response_cache.close()
        llm = self.__dict__.get("llm")
        if isinstance(llm, LlmEndpoint):
            llm.close()
