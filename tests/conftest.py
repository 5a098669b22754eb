"""Shared fixtures: settings on a temp data dir, the seeds, the real local model, a live API."""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn

from service.adapters.llm.local_runtime import free_port
from service.api.app import create_app
from service.config import Settings
from service.container import Container
from tests.fakes import HashingEmbedder, InMemoryPassageIndex

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "tests" / "data" / "seeds"  # the two real reports of ../shared/corpus/seeds, kept in the repository
EXAMPLES = ROOT / "examples" / "reports"
MODELS_DIR = Path(os.environ.get("DOSSIER_TEST_MODELS_DIR", ROOT / "data" / "models"))


def make_settings(tmp: Path, **overrides: object) -> Settings:
    base: dict[str, object] = {"data_dir": tmp, "models_dir": MODELS_DIR}
    base.update(overrides)
    return Settings(**base)  # type: ignore[arg-type]


JUDGED_CALIBRATOR = """id: qa_calibrator
version: 1
description: A test calibrator whose decision follows the stub's P(yes) alone (and says 0.88 without it).
target: tests
threshold: 0.5
models:
- {name: full, features: [p_supported], mean: [0.5], scale: [0.25], coef: [2.0], intercept: 0.0}
- {name: no_logprobs, features: [cover], mean: [0.5], scale: [1.0], coef: [0.0], intercept: 2.0}
"""


CLAIM_CALIBRATOR = """id: claim_calibrator
version: 1
description: A test calibrator whose P(contradict) follows the judge's P(contradict) alone.
target: tests
threshold: 0.5
models:
- {name: judged, features: [contradict], mean: [0.0], scale: [1.0], coef: [1.0], intercept: 0.0}
"""
AGREE_CALIBRATOR = """id: agree_calibrator
version: 1
description: A test calibrator whose P(agree) follows the judge's P(agree) alone.
target: tests
threshold: 0.5
models:
- {name: judged, features: [agree], mean: [0.0], scale: [1.0], coef: [1.0], intercept: 0.0}
"""


def judged_prompts(tmp: Path) -> Path:
    """The shipped prompts with calibrators that follow the judge's P(yes) (answers), P(contradict) and P(agree)
    (pairs of statements) alone, so a test decides the outcome by what the stub answers (`stub.judge_yes`,
    `stub.judge_top`); the shipped calibrators are fit and tested by the eval."""
    folder = tmp / "prompts"
    shutil.copytree(ROOT / "prompts", folder)
    shutil.rmtree(folder / "qa_calibrator")
    (folder / "qa_calibrator").mkdir()
    (folder / "qa_calibrator" / "v1.yaml").write_text(JUDGED_CALIBRATOR, encoding="utf-8")
    shutil.rmtree(folder / "claim_calibrator", ignore_errors=True)
    (folder / "claim_calibrator").mkdir()
    (folder / "claim_calibrator" / "v1.yaml").write_text(CLAIM_CALIBRATOR, encoding="utf-8")
    shutil.rmtree(folder / "agree_calibrator", ignore_errors=True)
    (folder / "agree_calibrator").mkdir()
    (folder / "agree_calibrator" / "v1.yaml").write_text(AGREE_CALIBRATOR, encoding="utf-8")
    return folder


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path)


def make_container(settings: Settings, *, real_store: bool = False, real_embedder: bool | None = None) -> Container:
    """A container on `settings`. Unless `real_store`, its vector index is an in-memory fake; its embedder is the
    real local model only with `real_embedder` (default: with the real store)."""
    embedder = None if (real_store if real_embedder is None else real_embedder) else HashingEmbedder()
    return Container(settings, embedder=embedder, index=None if real_store else InMemoryPassageIndex())


@pytest.fixture
def container(settings: Settings) -> Iterator[Container]:
    """Services over SQLite and in-memory fakes of the embedder and vector index."""
    c = make_container(settings)
    yield c
    c.close()


@pytest.fixture(scope="session")
def seeds() -> list[Path]:
    files = sorted(SEEDS.glob("*.txt"))
    assert len(files) == 2, f"expected the two seed reports in {SEEDS}"
    return files


class LiveServer:
    """A real uvicorn server on a free loopback port, in a thread."""

    def __init__(
        self, settings: Settings, start_llm: bool, *, real_store: bool = True, real_embedder: bool | None = None
    ) -> None:
        container = make_container(settings, real_store=real_store, real_embedder=real_embedder)
        self.app = create_app(settings, start_llm=start_llm, container=container)
        self.port = free_port()
        config = uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def container(self) -> Container:
        c: Container = self.app.state.container
        return c

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError("API did not start")

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


@pytest.fixture
def api(tmp_path: Path) -> Iterator[LiveServer]:
    """The API over real HTTP without the model, on in-memory fakes of the embedder and index (bad-input tests)."""
    with LiveServer(make_settings(tmp_path), start_llm=False, real_store=False) as server:
        yield server


@pytest.fixture(scope="session")
def e2e_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The API on the embedded default: the real llama.cpp server and the real model."""
    model = os.environ.get("DOSSIER_TEST_LOCAL_MODEL", "qwen2.5-coder-1.5b")
    settings = make_settings(tmp_path_factory.mktemp("e2e"), local_model=model)
    with LiveServer(settings, start_llm=True) as server:
        wait_ready(server)
        yield server


def wait_ready(server: LiveServer, timeout: float = 300) -> None:
    """Until /readyz says ready: the embedded server started and passed its self-test completion."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = httpx.get(f"{server.url}/readyz", timeout=5)
        if r.status_code == 200:
            return
        assert server.container.llm.error is None, server.container.llm.error
        assert r.json().get("llm", {}).get("state") != "failed", r.json()
        time.sleep(1)
    raise RuntimeError("local model did not become ready")
