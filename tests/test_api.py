"""The HTTP API over real HTTP: ingestion, documents, bad input (4xx naming the problem)."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from tests.conftest import EXAMPLES, LiveServer, make_settings
from tests.stub_openai import StubServer, by_schema

REPORT = "Iran denied the report. The panel cited a member state. The shipment took place in 2020."


def _counts(api: LiveServer) -> tuple[int, int]:
    return len(httpx.get(f"{api.url}/v1/documents").json()["items"]), api.container.index.count()


def test_json_ingest_get_list_delete(api: LiveServer) -> None:
    r = httpx.post(
        f"{api.url}/v1/documents", json={"text": REPORT, "title": "T", "source": "S", "published": "2021-02-09"}
    )
    assert r.status_code == 201, r.text
    doc = r.json()
    assert doc["status"] == "created" and doc["sentence_count"] == 3
    again = httpx.post(f"{api.url}/v1/documents", json={"text": REPORT, "title": "T"})
    assert again.status_code == 200 and again.json()["status"] == "unchanged"
    detail = httpx.get(f"{api.url}/v1/documents/{doc['id']}").json()
    assert detail["text"] == REPORT
    assert next(REPORT[s["start"] : s["end"]] for s in detail["sentences"]) == "Iran denied the report."
    assert [d["id"] for d in httpx.get(f"{api.url}/v1/documents").json()["items"]] == [doc["id"]]
    assert httpx.delete(f"{api.url}/v1/documents/{doc['id']}").status_code == 204
    assert httpx.get(f"{api.url}/v1/documents/{doc['id']}").status_code == 404
    assert httpx.delete(f"{api.url}/v1/documents/{doc['id']}").status_code == 404
    assert _counts(api) == (0, 0)


def test_file_upload_with_metadata(api: LiveServer) -> None:
    path = EXAMPLES / "02_iran_denial.txt"
    r = httpx.post(
        f"{api.url}/v1/documents",
        files={"file": (path.name, path.read_bytes(), "text/plain")},
        data={"title": "Denial", "source": "Gulf Wire", "published": "2021-02-10"},
    )
    assert r.status_code == 201, r.text
    assert r.json()["title"] == "Denial" and r.json()["published"] == "2021-02-10"


@pytest.mark.parametrize(
    ("kwargs", "status", "needle"),
    [
        ({"json": {"text": ""}}, 422, "empty"),
        ({"json": {"text": "   \n "}}, 422, "whitespace"),
        ({"json": {"title": "no text"}}, 422, "text"),
        ({"content": b"{not json", "headers": {"content-type": "application/json"}}, 422, "JSON"),
        ({"content": b"hello", "headers": {"content-type": "text/plain"}}, 415, "content type"),
        ({"files": {"file": ("a.exe", b"MZ\x90\x00", "application/octet-stream")}}, 415, ".exe"),
        ({"files": {"file": ("a.txt", b"\x00\x01bin", "text/plain")}}, 415, "binary"),
        ({"files": {"file": ("a.txt", "café".encode("latin-1"), "text/plain")}}, 415, "UTF-8"),
        ({"files": {"file": ("a.txt", b"x" * 3000, "text/plain")}}, 413, "limit"),
        ({"json": {"text": "y" * 3000}}, 413, "limit"),
        (
            {"files": {"file": ("a.txt", b"Some text.", "text/plain")}, "data": {"published": "soon"}},
            422,
            "published",
        ),
    ],
)
def test_bad_documents(tmp_path: Path, kwargs: dict[str, object], status: int, needle: str) -> None:
    with LiveServer(make_settings(tmp_path, max_upload_bytes=2000), start_llm=False, real_store=False) as api:
        r = httpx.post(f"{api.url}/v1/documents", **kwargs)  # type: ignore[arg-type]
        assert r.status_code == status, r.text
        assert needle.lower() in r.json()["detail"].lower()
        assert _counts(api) == (0, 0)


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"question": ""}, "question"),
        ({"question": "   "}, "empty"),
        ({"question": "why " * 200}, "limit"),
        ({}, "question"),
        ({"question": "x", "published_from": "nope"}, "published_from"),
    ],
)
def test_bad_questions(api: LiveServer, body: dict[str, object], needle: str) -> None:
    r = httpx.post(f"{api.url}/v1/ask", json=body)
    assert r.status_code == 422, r.text
    assert needle in r.json()["detail"]


def test_unknown_document_is_404(api: LiveServer) -> None:
    r = httpx.get(f"{api.url}/v1/documents/doc_nope")
    assert r.status_code == 404 and "doc_nope" in r.json()["detail"]


def test_openapi_docs(api: LiveServer) -> None:
    assert httpx.get(f"{api.url}/docs").status_code == 200
    paths = httpx.get(f"{api.url}/openapi.json").json()["paths"]
    assert {"/v1/documents", "/v1/documents/{document_id}", "/v1/ask", "/healthz", "/readyz"} <= set(paths)


def _answer(sentences: list[dict[str, object]]) -> str:
    return json.dumps({"sentences": sentences})


def test_verification_drops_unsupported_sentences(tmp_path: Path) -> None:
    """The model (a stub) claims one supported and one invented fact; only the first survives."""
    script = [
        by_schema(
            qa_answer=_answer(
                [
                    {"text": "Iran denied the report.", "passages": [1]},
                    {"text": "Russia paid 40 million dollars for the parts.", "passages": [1, 2]},
                    {"text": "The panel cited a member state.", "passages": [99]},
                ]
            )
        )
    ]
    with StubServer(script) as stub:
        settings = make_settings(tmp_path, llm_base_url=stub.base_url, llm_model="stub")
        with LiveServer(settings, start_llm=False, real_store=False) as api:
            httpx.post(f"{api.url}/v1/documents", json={"text": REPORT, "title": "T"})
            r = httpx.post(f"{api.url}/v1/ask", json={"question": "Did Iran deny the report?"}, timeout=60)
    body = r.json()
    assert r.status_code == 200 and not body["abstained"]
    assert body["answer"].startswith("Iran denied the report.")
    reasons = {x["text"]: x["reason"] for x in body["rejected"]}
    assert "numbers not in cited passages" in reasons["Russia paid 40 million dollars for the parts."]
    for c in body["citations"]:
        assert c["quote"] == REPORT[c["start"] : c["end"]]
    assert "Sentences:" in stub.requests[0]["messages"][1]["content"]


def test_nothing_supported_means_abstention(tmp_path: Path) -> None:
    script = [by_schema(qa_answer=_answer([{"text": "Brazil won the World Cup in 2002.", "passages": [1]}]))]
    with StubServer(script) as stub:
        settings = make_settings(tmp_path, llm_base_url=stub.base_url, llm_model="stub", min_similarity=0.0)
        with LiveServer(settings, start_llm=False, real_store=False) as api:
            httpx.post(f"{api.url}/v1/documents", json={"text": REPORT})
            # sent as `curl -d '{"question": ...}'` sends it: JSON under a form content type
            body = httpx.post(
                f"{api.url}/v1/ask",
                content=json.dumps({"question": "Who won in 2002?"}),
                headers={"content-type": "application/x-www-form-urlencoded"},
                timeout=60,
            ).json()
    assert body["abstained"] and body["citations"] == [] and body["answer"] == "The sources do not say."
    assert "not in cited passages" in body["rejected"][0]["reason"]  # 2002 is the question's own number


def test_model_outage_is_503(tmp_path: Path) -> None:
    with StubServer([("status", 503)]) as stub:
        settings = make_settings(tmp_path, llm_base_url=stub.base_url, llm_max_attempts=2, min_similarity=0.0)
        with LiveServer(settings, start_llm=False, real_store=False) as api:
            httpx.post(f"{api.url}/v1/documents", json={"text": REPORT})
            r = httpx.post(f"{api.url}/v1/ask", json={"question": "Did Iran deny it?"}, timeout=60)
    assert r.status_code == 503 and r.json()["code"] == "model_unavailable"
    assert len(stub.requests) == 2


def test_verification_off_lets_unsupported_sentences_through(tmp_path: Path) -> None:
    """The switch the eval gate's synthetic regression uses: with it off, invented facts pass."""
    script = [by_schema(qa_answer=_answer([{"text": "Russia paid 40 million dollars.", "passages": [1]}]))]
    with StubServer(script) as stub:
        settings = make_settings(
            tmp_path, llm_base_url=stub.base_url, llm_model="stub", min_similarity=0.0, verify_citations=False
        )
        with LiveServer(settings, start_llm=False, real_store=False) as api:
            httpx.post(f"{api.url}/v1/documents", json={"text": REPORT})
            body = httpx.post(f"{api.url}/v1/ask", json={"question": "Who paid?"}, timeout=60).json()
    assert not body["abstained"] and body["answer"] == "Russia paid 40 million dollars."
