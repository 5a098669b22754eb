"""The one Settings object (environment prefix `DOSSIER_`), built once and passed down."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

Probability = Annotated[float, Field(ge=0.0, le=1.0)]

LocalModel = Literal["qwen2.5-coder-1.5b", "qwen2.5-coder-0.5b"]
REPO_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    """Every knob Dossier has. See the README's settings table."""

    model_config = SettingsConfigDict(env_prefix="DOSSIER_", env_file=".env", extra="ignore")

    data_dir: Path = Field(default=Path("data"), description="Where the database, Chroma and models live.")
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; default sqlite:///<data_dir>/dossier.db."
    )

    # Chat model
    llm_base_url: str | None = Field(
        default=None, description="OpenAI-compatible base URL; unset starts the embedded llama.cpp server."
    )
    llm_api_key: SecretStr = Field(default=SecretStr("sk-local"), description="API key for llm_base_url.")
    llm_model: str | None = Field(default=None, description="Model name; default is the local model's.")
    local_model: LocalModel = Field(default="qwen2.5-coder-1.5b", description="Embedded model choice.")
    models_dir: Path | None = Field(default=None, description="Assembled GGUF files; default <data_dir>/models.")
    eval_reports_dir: Path = Field(
        default=Path("evals/reports"), description="Where `dossier eval` writes runs; the page shows the newest."
    )
    local_ctx: int = Field(default=4096, description="Context window of the embedded server.")
    local_port: int | None = Field(
        default=None, ge=1, le=65535, description="Port of the embedded server; default a free one."
    )
    local_host: str = Field(
        default="127.0.0.1", description="Bind address of the embedded server (`dossier model-server` in a container)."
    )
    local_threads: int | None = Field(default=None, description="llama.cpp threads; default all cores.")
    local_startup_timeout_s: float = Field(
        default=180.0, description="Wait this long for the server to start (or restart) and pass its self-test."
    )
    local_batch: int = Field(default=512, ge=32, le=8192, description="llama.cpp batch and micro-batch size.")
    local_restart_backoff_s: float = Field(
        default=1.0, ge=0.0, description="First wait before restarting a dead server; doubles, capped at 30 s."
    )
    local_max_restarts: int = Field(
        default=5, ge=0, description="More crashes than this within the window is a crash loop: stop restarting."
    )
    local_restart_window_s: float = Field(default=300.0, gt=0, description="The crash-loop window.")
    local_restart_wait_s: float = Field(
        default=60.0, gt=0, description="How long a request waits for a restarting server before a 503 + Retry-After."
    )
    structured_output: Literal["auto", "json_schema", "json_object_schema"] = Field(
        default="auto",
        description="How to send JSON schemas: OpenAI `json_schema`, or llama.cpp's `json_object`+schema.",
    )
    llm_timeout_s: float | None = Field(
        default=None,
        description="Per-request timeout; default 1200 s for the embedded server (it queues and never cancels, "
        "so a short timeout only duplicates work) and 120 s for a remote endpoint.",
    )
    llm_max_attempts: int = Field(default=4, ge=1, le=10, description="Attempts per call, retries included.")
    llm_concurrency: int | None = Field(
        default=None,
        ge=1,
        le=256,
        description="Model turns at once, per process: an ask holds one across its answer and judges, any other "
        "model call takes one for itself. Default: 1 on the embedded server (it serves one request at a time, so "
        "concurrent asks finish one after another), no limit on a configured endpoint.",
    )
    llm_backoff_max_s: float = Field(default=20.0, description="Upper bound of one backoff wait.")
    llm_temperature: float = 0.0
    llm_seed: int = 7

    # Embeddings and store
    embedding_backend: Literal["local", "openai"] = "local"
    embedding_model: str = Field(default="all-MiniLM-L6-v2", description="Name stored with the collection.")
    embedding_base_url: str | None = None
    embedding_api_key: SecretStr = SecretStr("sk-local")
    chroma_path: Path | None = Field(default=None, description="Default <data_dir>/chroma.")
    chroma_url: str | None = Field(default=None, description="Chroma server URL; switches to HttpClient.")
    collection: str = "dossier_passages"

    # Limits
    max_upload_bytes: int = Field(default=5_000_000, description="Largest accepted file or text.")
    max_question_chars: int = Field(default=500, ge=1, le=10000, description="Longest accepted question.")
    rate_limit: str | None = Field(
        default="120/minute", description="Requests per key (per client address when keyless); empty: no limit."
    )
    rate_limit_storage: str = Field(
        default="memory://", description="Where the rate limiter counts: memory:// per replica, or redis://..."
    )
    model_queue_depth: int = Field(
        default=8, ge=1, le=1000, description="Requests in model work at once (ask, extraction); more get 429."
    )
    ingest_queue_depth: int = Field(default=2, ge=1, le=100, description="Uploads embedded at once; more get 429.")
    request_budget_s: float = Field(
        default=600.0, gt=0, description="How long an ask or extraction request may wait before a 504."
    )
    sync_extract_max_chars: int = Field(
        default=1200,
        ge=0,
        description="Longer reports (two extraction windows; 30 s or more on the embedded model) "
        "are extracted as a job (202 + Location), not in the request.",
    )
    retrieval_candidates: int = Field(default=30, description="Candidates per retriever before fusion.")
    qa_passages: int = Field(default=8, description="Passages shown to the model per question.")
    min_similarity: float = Field(
        default=0.25, description="Abstain without a model call when no passage is this similar."
    )

    qa_min_confidence: float | None = Field(
        default=None,
        ge=0.0,
        le=1.0,
        description="Answer only with sentences whose calibrated confidence reaches this; below it, abstain and show "
        "the best candidate held back. Default: the calibrator's own threshold, chosen on dev data. A request's "
        "`min_confidence` overrides it.",
    )
    qa_calibrator_version: int | None = Field(
        default=None, description="prompts/qa_calibrator/v<N>.yaml to score answers with; default the newest."
    )
    qa_verify_band: tuple[Probability, Probability] = Field(
        default=(1.0, 0.0),
        description="A candidate sentence whose confidence from the two judges on the answer's prefix lies in this "
        "band (JSON pair, e.g. [0.3, 0.8]) is also put, with only the sentences it cites, to the `verified` judge: "
        "one more short model call (~2 s on 2 cores), used by a calibrator fit with it (docs/answering.md). "
        "Default [1, 0]: never (on the held-out reports it did not help the 1.5B); [0, 1]: every candidate.",
    )
    entity_min_confidence: float | None = Field(
        default=None,
        ge=0.0,
        le=1.0,
        description="Join two reports' entities into one when their calibrated P(same entity) reaches this. Default: "
        "the entity calibrator's own threshold, chosen on dev pairs. A request's `min_confidence` overrides it.",
    )
    entity_calibrator_version: int | None = Field(
        default=None, description="prompts/entity_calibrator/v<N>.yaml to resolve entities with; default the newest."
    )
    disagreement_min_confidence: float | None = Field(
        default=None,
        ge=0.0,
        le=1.0,
        description="List two reports' statements as a disagreement when their calibrated P(contradict) reaches "
        "this. Default: the claim calibrator's own threshold, chosen on dev pairs. A request's `min_confidence` "
        "overrides it.",
    )
    disagreement_max_pairs: int = Field(
        default=30,
        ge=1,
        le=10_000,
        description="Statement pairs judged per request (two one-token model calls each, kept once judged): the "
        "nearest pairs by embedding across reports.",
    )
    claim_calibrator_version: int | None = Field(
        default=None, description="prompts/claim_calibrator/v<N>.yaml to judge disagreements with; default the newest."
    )
    corroboration_min_confidence: float | None = Field(
        default=None,
        ge=0.0,
        le=1.0,
        description="Count another report's sentence as corroborating a fact when their calibrated P(agree) reaches "
        "this. Default: the agree calibrator's own threshold, chosen on dev pairs. A request's "
        "`corroboration_min_confidence` overrides it.",
    )
    agree_calibrator_version: int | None = Field(
        default=None, description="prompts/agree_calibrator/v<N>.yaml to judge corroboration with; default the newest."
    )
    verify_citations: bool = Field(
        default=True, description="Drop answer sentences their citations don't support (off only to test the gate)."
    )
    extract_window_chars: int = Field(default=600, description="Sentences per extraction call, in characters.")

    summary_window_chars: int = Field(default=4000, description="Longer reports are summarised map-reduce.")
    summary_tail_min_sentences: int = Field(
        default=4,
        ge=0,
        description="When at least this many report sentences follow the last one a summary cites, one more call "
        "writes two sentences from them (late denials and figures); 0: off.",
    )
    summary_tail_max_calls: int = Field(
        default=3,
        ge=1,
        le=8,
        description="Tail calls per summary at most: each one writes two sentences from those after the last one "
        "cited so far, while at least `summary_tail_min_sentences` remain.",
    )
    summary_concurrency: int = Field(default=1, ge=1, le=32, description="Reports summarised at once.")
    summary_confidence: bool = Field(
        default=False,
        description="Give every summary sentence `confidence`: the calibrated P(its cited sentences state it), two "
        "one-token model calls per sentence (about 3-4 s a sentence on 2 cores). Off: `confidence` is null.",
    )

    # Jobs (summary batches, long extractions)
    queue: Literal["local", "postgres"] = Field(
        default="local",
        description="`local`: jobs run in a thread of the API process (embedded default). `postgres`: the API "
        "queues them in Postgres (procrastinate) and `dossier worker` processes on any host do the work.",
    )
    worker_concurrency: int = Field(default=1, ge=1, le=64, description="Tasks one worker runs at once.")
    worker_heartbeat_s: float = Field(default=10.0, gt=0, description="How often a worker renews its lease.")
    worker_stalled_s: float = Field(
        default=30.0, gt=0, description="A worker silent this long is dead: its task goes back in the queue."
    )

    # Server
    require_keys: bool = Field(default=False, description="Require an API key even on loopback before any key exists.")
    cors_origins: list[str] = Field(
        default_factory=list,
        description="Origins (scheme://host:port) whose pages may call the API from a browser; none by default.",
    )
    host: str = "127.0.0.1"
    port: int = 8000
    prompts_dir: Path = REPO_ROOT / "prompts"

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'dossier.db').resolve()}"

    @property
    def resolved_models_dir(self) -> Path:
        return self.models_dir or self.data_dir / "models"

    @property
    def resolved_chroma_path(self) -> Path:
        return self.chroma_path or self.data_dir / "chroma"

    @property
    def resolved_llm_timeout_s(self) -> float:
        if self.llm_timeout_s is not None:
            return self.llm_timeout_s
        return 1200.0 if self.uses_local_llm else 120.0

    @property
    def model_turns(self) -> int | None:
        """Model turns at once (None: no limit)."""
        if self.llm_concurrency is not None:
            return self.llm_concurrency
        return 1 if self.uses_local_llm else None

    @property
    def uses_local_llm(self) -> bool:
        return self.llm_base_url is None

    @property
    def chat_model_name(self) -> str:
        return self.llm_model or self.local_model

    def settings_hash(self) -> str:
        """Short hash of what shapes outputs (no secrets, no paths)."""
        keys = {
            "llm_base_url",
            "local_model",
            "llm_model",
            "local_ctx",
            "local_batch",
            "structured_output",
            "llm_temperature",
            "llm_seed",
            "embedding_backend",
            "embedding_model",
            "retrieval_candidates",
            "qa_passages",
            "min_similarity",
            "verify_citations",
            "qa_min_confidence",
            "qa_calibrator_version",
            "qa_verify_band",
            "entity_min_confidence",
            "entity_calibrator_version",
            "disagreement_min_confidence",
            "disagreement_max_pairs",
            "claim_calibrator_version",
            "corroboration_min_confidence",
            "agree_calibrator_version",
            "extract_window_chars",
            "summary_window_chars",
            "summary_tail_min_sentences",
            "summary_tail_max_calls",
            "summary_confidence",
        }
        payload = json.dumps(self.model_dump(include=keys, mode="json"), sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()[:12]
