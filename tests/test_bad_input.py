"""Inputs that once gave a 500 or silently did the wrong thing: each gets a 4xx naming the problem, nothing stored."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import LiveServer

TEXT = "The panel said North Korea shipped missile parts to Iran in 2020. Iran denied the findings."


def _doc(api: LiveServer) -> str:
    r = httpx.post(f"{api.url}/v1/documents", json={"text": TEXT, "title": "t"})
    assert r.status_code == 201, r.text
    doc_id: str = r.json()["id"]
    return doc_id


def _error(r: httpx.Response, status: int, *needles: str) -> None:
    assert r.status_code == status, (r.status_code, r.text)
    message = r.json()["detail"]
    for needle in needles:
        assert needle in message, message


@pytest.mark.parametrize(
    ("body", "status", "needle"),
    [
        ({"question": "Who shipped parts?", "document_ids": []}, 422, "document_ids is empty"),
        ({"question": "Who?", "published_from": "2021-03-01", "published_to": "2021-02-01"}, 422, "is after"),
        ({"question": "Who?", "document_ids": ["doc_nope"]}, 404, "doc_nope"),
        ({"questoin": "Who shipped parts?"}, 422, "questoin"),
        ({"question": "Who?", "document_ids": ["x"] * 1001}, 422, "more than 1000"),
    ],
)
def test_ask_rejects_empty_contradictory_unknown_and_misspelt_filters(
    api: LiveServer, body: dict[str, object], status: int, needle: str
) -> None:
    _doc(api)
    _error(httpx.post(f"{api.url}/v1/ask", json=body), status, needle)


def test_jobs_limit_out_of_range(api: LiveServer) -> None:
    for limit in ("9999999999999999999999999", "0", "-1"):
        _error(httpx.get(f"{api.url}/v1/jobs", params={"limit": limit}), 422, "limit")
    assert httpx.get(f"{api.url}/v1/jobs", params={"limit": "5"}).status_code == 200


@pytest.mark.parametrize("required", [5, [["a"]], "a", [1]])
def test_custom_schema_with_malformed_required(api: LiveServer, required: object) -> None:
    doc_id = _doc(api)
    schema = {"id": "s", "kinds": {"things": {"fields": {"a": {"type": "string"}}, "required": required}}}
    r = httpx.post(f"{api.url}/v1/documents/{doc_id}/extractions", json={"custom_schema": schema})
    _error(r, 422, "required")


def test_batch_ids_empty_or_repeated_start_nothing(api: LiveServer) -> None:
    doc_id = _doc(api)
    _error(httpx.post(f"{api.url}/v1/summaries/batch", json={"ids": []}), 422, "ids is empty")
    _error(httpx.post(f"{api.url}/v1/summaries/batch", json={"ids": [doc_id, doc_id]}), 422, doc_id)
    _error(httpx.post(f"{api.url}/v1/summaries/batch", json={"idz": [doc_id]}), 422, "idz")
    assert httpx.get(f"{api.url}/v1/jobs").json()["items"] == []


def test_unknown_fields_are_rejected_and_nothing_is_stored(api: LiveServer) -> None:
    _error(httpx.post(f"{api.url}/v1/documents", json={"text": TEXT, "titel": "typo"}), 422, "titel")
    files = {"file": ("r.txt", TEXT.encode())}
    _error(httpx.post(f"{api.url}/v1/documents", files=files, data={"sourse": "typo"}), 422, "sourse")
    _error(httpx.post(f"{api.url}/v1/documents", json={"text": TEXT, "key": ""}), 422, "key")
    assert httpx.get(f"{api.url}/v1/documents").json()["items"] == []
    doc_id = _doc(api)
    r = httpx.post(f"{api.url}/v1/documents/{doc_id}/extractions", json={"schema": "report-facts", "refrsh": True})
    _error(r, 422, "refrsh")


def test_overlong_keys(api: LiveServer) -> None:
    files = {"file": ("r.txt", TEXT.encode())}
    _error(httpx.post(f"{api.url}/v1/documents", files=files, data={"key": "k" * 2000}), 422, "limit is 1024")
    _error(httpx.post(f"{api.url}/v1/documents", files=files, data={"source": "s" * 1100}), 422, "limit is 1024")
    assert httpx.get(f"{api.url}/v1/documents").json()["items"] == []


def test_custom_schema_behaviour_must_name_its_own_fields(api: LiveServer) -> None:
    doc_id = _doc(api)
    kind = {"fields": {"statement": {"type": "string"}}, "speaker_field": "speaker", "stance_field": "stance"}
    r = httpx.post(
        f"{api.url}/v1/documents/{doc_id}/extractions", json={"custom_schema": {"id": "c", "kinds": {"claims": kind}}}
    )
    _error(r, 422, "speaker")
