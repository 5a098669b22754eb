"""Routers take their services through Annotated dependencies, so a test can swap one for an in-memory fake."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Sequence
from pathlib import Path

from fastapi.testclient import TestClient

from service.api.app import create_app
from service.ask.router import qa_service
from service.domain.models import Answer, Document, RetrievalFilter, RunMeta
from service.http import deps
from tests.conftest import make_settings

DOC = Document(
    id="doc_fake",
    source_key="k",
    title="Fake",
    text="Iran denied it.",
    sentence_count=1,
    created_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
)


class FakeRepo:
    """Just enough of the DocumentRepository port for the routes under test."""

    def list(self, collections: Sequence[str] | None = None, **_: object) -> list[Document]:
        return [DOC]

    def ids(self, collections: Sequence[str] | None = None) -> set[str]:
        return {DOC.id}


class FakeQA:
    def __init__(self) -> None:
        self.asked: list[tuple[str, RetrievalFilter | None]] = []

    def ask(
        self,
        question: str,
        flt: RetrievalFilter | None = None,
        stop: threading.Event | None = None,
        min_confidence: float | None = None,
    ) -> Answer:
        self.asked.append((question, flt))
        meta = RunMeta(prompt_id="qa", prompt_version=1, model="fake", settings_hash="h")
        return Answer(
            question=question, answer="The sources do not say.", abstained=True, sentences=[], citations=[], meta=meta
        )


def test_document_and_ask_routes_use_overridden_dependencies(tmp_path: Path) -> None:
    app = create_app(make_settings(tmp_path), start_llm=False)
    qa = FakeQA()
    app.dependency_overrides[deps.document_repo] = FakeRepo
    app.dependency_overrides[qa_service] = lambda: qa
    client = TestClient(app, base_url="http://127.0.0.1")  # no lifespan: nothing real is started; keyless
    assert [d["id"] for d in client.get("/v1/documents").json()["items"]] == ["doc_fake"]
    r = client.post("/v1/ask", json={"question": "Who denied it?", "document_ids": ["doc_fake"]})
    assert r.status_code == 200 and r.json()["abstained"] is True
    assert qa.asked[0][0] == "Who denied it?" and qa.asked[0][1] is not None
    assert qa.asked[0][1].document_ids == ["doc_fake"]
