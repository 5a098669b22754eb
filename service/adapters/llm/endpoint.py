"""The chat model's endpoint: a configured OpenAI-compatible URL, or the embedded llama.cpp server under
supervision (assembled, started, self-tested and restarted here, not in the composition root)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path

from service.adapters.llm.local_runtime import LOCAL_MODELS, LocalLlamaServer, assemble_model
from service.adapters.llm.supervisor import ModelSupervisor, RestartPolicy, SupervisorStatus
from service.config import Settings
from service.domain.errors import ModelUnavailable

log = logging.getLogger(__name__)


class LlmEndpoint:
    """Where chat requests go. `base_url()` is what the chat adapter calls before every attempt."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._supervisor: ModelSupervisor | None = None
        self._lock = threading.Lock()
        self._closed = False
        self.error: str | None = None  # the embedded model could not even be assembled

    def assemble_local_model(self, progress: Callable[[int, int], None] | None = None) -> str:
        """Assemble the configured local GGUF into the data dir (no-op when already verified)."""
        spec = LOCAL_MODELS[self.settings.local_model]
        return str(assemble_model(spec, self.settings.resolved_models_dir, progress))

    def supervisor(self) -> ModelSupervisor:
        """The embedded llama.cpp server under supervision (model assembled on first use), not yet started."""
        s = self.settings
        with self._lock:
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
                    port=s.local_port,
                    host=s.local_host,
                )
                policy = RestartPolicy(
                    backoff_base_s=s.local_restart_backoff_s,
                    max_restarts=s.local_max_restarts,
                    window_s=s.local_restart_window_s,
                )
                self._supervisor = ModelSupervisor(server, policy, restart_wait_s=s.local_restart_wait_s)
            return self._supervisor

    def base_url(self) -> str:
        """Configured base URL, or the embedded server's (started on first use; waits through a restart)."""
        s = self.settings
        if s.llm_base_url:
            return s.llm_base_url
        return self.supervisor().base_url(wait_s=s.local_startup_timeout_s)

    def status(self) -> SupervisorStatus | None:
        """The embedded server's state (None for a configured endpoint or before it was first asked for)."""
        return None if self.settings.llm_base_url or self._supervisor is None else self._supervisor.status()

    def ready(self) -> bool:
        """True when a configured endpoint is set or the embedded server passed its self-test and runs."""
        if self.settings.llm_base_url:
            return True
        return self._supervisor is not None and self._supervisor.ready()

    def start_in_background(self) -> threading.Thread | None:
        """Start the embedded server in a thread (its failure is surfaced by /readyz); nothing to start, and None,
        when a model server is configured."""
        if self.settings.llm_base_url:
            return None

        def run() -> None:
            try:
                self.supervisor().start()
            except Exception as exc:  # surfaced by /readyz
                self.error = str(exc)
                log.exception("local model failed to start")

        t = threading.Thread(target=run, name="llm-start", daemon=True)
        t.start()
        return t

    def close(self) -> None:
        """Stop the embedded server; later calls fail instead of starting one nobody would stop."""
        with self._lock:
            self._closed = True
            supervisor, self._supervisor = self._supervisor, None
        if supervisor is not None:
            supervisor.stop()
