"""Collections over real HTTP: two collections that share their vocabulary, three keys (reader of A, writer of B,
admin). No request sees, retrieves, cites or summarises anything of a collection its key may not see, and no
passage of another collection ever reaches the model's prompt (an OpenAI-compatible stub on loopback records them).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import LiveServer, make_settings
from tests.stub_openai import StubServer

A_TEXT = (
    "The tanker Velmora delivered missile parts to the port of Bandar Abbas in March 2021. "
    "Velmora Shipping denied any transfer of missile parts. Customs officials inspected the tanker."
)
B_TEXT = (
    "The tanker Tarsk delivered missile parts to the port of Nampo in March 2021. "
    "Tarsk Holdings denied any transfer of missile parts. Customs officials inspected the tanker."
)
A_MARK, B_MARK = "Velmora", "Tarsk"


def _numbered(prompt: str) -> dict[int, str]:
    return {int(m[1]): m[2] for m in re.finditer(r"^\[(\d+)\] (.+)$", prompt, flags=re.M)}


def model(body: dict[str, Any]) -> tuple[str, str]:
    """Answers from the prompt it is given: the QA answer cites passage [1]; extraction names the tanker of the
    sentences shown; summaries repeat the sentences; the digest finds nothing."""
    name = body["response_format"]["json_schema"]["name"]
    prompt = body["messages"][-1]["content"]
    lines = _numbered(prompt)
    if name == "qa_answer":
        return ("content", json.dumps({"sentences": [{"text": lines[1], "passages": [1]}]}))
    if name == "report_facts":
        tanker = next(t for t in (A_MARK, B_MARK) if t in prompt.split("Sentences:")[-1])
        entity = {"name": tanker, "type": "other", "aliases": [], "sentences": [1]}
        return ("content", json.dumps({"entities": [entity], "events": [], "claims": [], "quantities": []}))
    if name in ("summary", "summary_tail"):  # three sentences; two for a summary's later sentences
        picked = [
            {"text": text, "sentences": [n]} for n, text in sorted(lines.items())[: 3 if name == "summary" else 2]
        ]
        return ("content", json.dumps({"sentences": picked}))
    return ("content", json.dumps({"new": [], "agreements": [], "contradictions": []}))


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[LiveServer, StubServer, dict[str, dict[str, str]], dict[str, str]]]:
    with StubServer([model]) as stub:
        settings = make_settings(tmp_path, llm_base_url=stub.base_url, llm_model="stub", min_similarity=0.0)
        with LiveServer(settings, start_llm=False, real_store=True, real_embedder=False) as api:
            access = api.container.access
            keys = {
                "admin": access.create("admin")[1],
                "reader_a": access.create("reader", ["team-a"])[1],
                "writer_b": access.create("writer", ["team-b"])[1],
            }
            h = {k: {"authorization": f"Bearer {v}"} for k, v in keys.items()}
            docs = {}
            for col, text in (("team-a", A_TEXT), ("team-b", B_TEXT)):
                r = httpx.post(f"{api.url}/v1/documents", json={"text": text, "collection": col}, headers=h["admin"])
                assert r.status_code == 201, r.text
                docs[col] = r.json()["id"]
            yield api, stub, h, docs


def _prompts_since(stub: StubServer, start: int) -> str:
    return " ".join(json.dumps(b["messages"]) for b in stub.requests[start:])


def test_documents_and_retrieval_stay_in_their_collection(world: Any) -> None:
    api, stub, h, docs = world
    url = api.url
    listed = {k: [d["id"] for d in httpx.get(f"{url}/v1/documents", headers=h[k]).json()["items"]] for k in h}
    assert listed["reader_a"] == [docs["team-a"]] and listed["writer_b"] == [docs["team-b"]]
    assert sorted(listed["admin"]) == sorted(docs.values())
    assert httpx.get(f"{url}/v1/documents/{docs['team-b']}", headers=h["reader_a"]).status_code == 404
    assert httpx.get(f"{url}/v1/documents/{docs['team-a']}", headers=h["writer_b"]).status_code == 404
    assert httpx.get(f"{url}/v1/documents", params={"collection": "team-b"}, headers=h["reader_a"]).status_code == 403
    # Asks: the shared vocabulary retrieves both reports, yet only the key's own collection reaches the model.
    question = {"question": "Which tanker delivered missile parts in March 2021?"}
    for key, own, other in (("reader_a", A_MARK, B_MARK), ("writer_b", B_MARK, A_MARK)):
        start = len(stub.requests)
        r = httpx.post(f"{url}/v1/ask", json=question, headers=h[key], timeout=60)
        assert r.status_code == 200, r.text
        body = r.json()
        prompts = _prompts_since(stub, start)
        assert own in prompts and other not in prompts, key
        own_doc = docs["team-a" if own == A_MARK else "team-b"]
        assert body["citations"] and {c["document_id"] for c in body["citations"]} == {own_doc}
        assert other not in json.dumps(body)
    # Naming a collection or a document of another collection is refused, not answered.
    r = httpx.post(f"{url}/v1/ask", json={**question, "collections": ["team-b"]}, headers=h["reader_a"])
    assert r.status_code == 403
    r = httpx.post(f"{url}/v1/ask", json={**question, "document_ids": [docs["team-b"]]}, headers=h["reader_a"])
    assert r.status_code == 404
    # The admin sees both; asking within one collection keeps the prompt to it.
    start = len(stub.requests)
    r = httpx.post(f"{url}/v1/ask", json={**question, "collections": ["team-b"]}, headers=h["admin"], timeout=60)
    assert r.status_code == 200 and A_MARK not in _prompts_since(stub, start)
    # Writes: a writer of B can't write into A, nor delete A's report.
    r = httpx.post(f"{url}/v1/documents", json={"text": "x y z.", "collection": "team-a"}, headers=h["writer_b"])
    assert r.status_code == 403
    assert httpx.delete(f"{url}/v1/documents/{docs['team-a']}", headers=h["writer_b"]).status_code == 404
    assert httpx.get(f"{url}/v1/documents/{docs['team-a']}", headers=h["admin"]).status_code == 200


def test_facts_summaries_and_jobs_stay_in_their_collection(world: Any) -> None:
    api, stub, h, docs = world
    url = api.url
    for col, key in (("team-a", "admin"), ("team-b", "writer_b")):
        r = httpx.post(f"{url}/v1/documents/{docs[col]}/extractions", json={}, headers=h[key], timeout=60)
        assert r.status_code == 200, r.text
    r = httpx.post(f"{url}/v1/documents/{docs['team-a']}/extractions", json={}, headers=h["writer_b"])
    assert r.status_code == 404
    names = {k: {f["fields"]["name"] for f in httpx.get(f"{url}/v1/facts", headers=h[k]).json()["items"]} for k in h}
    assert names == {"admin": {A_MARK, B_MARK}, "reader_a": {A_MARK}, "writer_b": {B_MARK}}
    assert httpx.get(f"{url}/v1/facts", params={"collection": "team-a"}, headers=h["writer_b"]).status_code == 403
    assert httpx.get(f"{url}/v1/documents/{docs['team-a']}/extractions", headers=h["writer_b"]).status_code == 404
    # A batch over team-b summarises team-b only; its job and summaries are invisible to the reader of A.
    start = len(stub.requests)
    r = httpx.post(f"{url}/v1/summaries/batch", json={"collection": "team-b"}, headers=h["writer_b"])
    assert r.status_code == 202, r.text
    job_id = r.json()["job_id"]
    deadline = time.monotonic() + 60
    while (job := httpx.get(f"{url}/v1/jobs/{job_id}", headers=h["writer_b"]).json())["state"] in (
        "pending",
        "running",
    ):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert job["state"] == "completed" and [i["document_id"] for i in job["items"]] == [docs["team-b"]]
    assert A_MARK not in _prompts_since(stub, start)
    assert A_MARK not in json.dumps(job["digest"])
    assert httpx.get(f"{url}/v1/jobs/{job_id}", headers=h["reader_a"]).status_code == 404
    assert httpx.get(f"{url}/v1/jobs", headers=h["reader_a"]).json()["items"] == []
    assert [j["id"] for j in httpx.get(f"{url}/v1/jobs", headers=h["admin"]).json()["items"]] == [job_id]
    assert httpx.get(f"{url}/v1/summaries/{docs['team-b']}", headers=h["reader_a"]).status_code == 404
    assert httpx.get(f"{url}/v1/summaries/{docs['team-b']}", headers=h["writer_b"]).status_code == 200
    refused = httpx.post(f"{url}/v1/summaries/batch", json={"collection": "team-a"}, headers=h["writer_b"])
    assert refused.status_code == 403
    # team-a's own "new" batch still finds its report: each collection keeps its own watermark.
    r = httpx.post(f"{url}/v1/summaries/batch", json={"collection": "team-a"}, headers=h["admin"])
    assert r.status_code == 202 and r.json()["total"] == 1


def test_same_text_in_two_collections_is_two_documents(world: Any) -> None:
    api, _, h, docs = world
    r = httpx.post(f"{api.url}/v1/documents", json={"text": B_TEXT, "collection": "team-c"}, headers=h["admin"])
    assert r.status_code == 201 and r.json()["id"] not in docs.values()
    assert httpx.delete(f"{api.url}/v1/documents/{r.json()['id']}", headers=h["admin"]).status_code == 204
    assert httpx.get(f"{api.url}/v1/documents/{docs['team-b']}", headers=h["writer_b"]).status_code == 200


def test_keys_and_texts_crafted_to_look_scoped_never_reach_another_collection(world: Any) -> None:
    api, _, h, docs = world
    url = api.url
    default_writer = {"authorization": f"Bearer {api.container.access.create('writer', ['default'])[1]}"}
    key = "collection:team-b|text:" + docs["team-b"]  # team-b's stored key, were keys scoped naively
    r = httpx.post(
        f"{url}/v1/documents", json={"text": "A new report. It says little.", "key": key}, headers=default_writer
    )
    assert r.status_code == 201 and r.json()["replaced_id"] is None, r.text
    assert httpx.get(f"{url}/v1/documents/{docs['team-b']}", headers=h["writer_b"]).status_code == 200
    crafted = httpx.post(f"{url}/v1/documents", json={"text": "team-b\x00" + B_TEXT}, headers=default_writer)
    assert crafted.status_code == 422 and "NUL" in crafted.json()["detail"]
    ready = httpx.get(f"{url}/readyz").text
    assert "passages" not in ready  # no corpus size without a key
