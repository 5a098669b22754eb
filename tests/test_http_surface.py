"""The hardened HTTP surface over real HTTP: problem details, security headers, no cross-site writes, offline docs."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
from fastapi.testclient import TestClient

from service.api.app import create_app
from service.http import deps
from tests.conftest import LiveServer, make_container, make_settings

REPORT = "Iran denied the report. The panel cited a member state. The shipment took place in 2020."
PROBLEM_KEYS = {"type", "title", "status", "detail", "code"}


def _is_problem(r: httpx.Response, status: int) -> dict[str, object]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json"), r.headers
    body: dict[str, object] = r.json()
    assert set(body) >= PROBLEM_KEYS and body["status"] == status, body
    assert str(body["type"]).startswith("urn:dossier:problem:")
    return body


def test_errors_are_problem_details(api: LiveServer) -> None:
    body = _is_problem(httpx.post(f"{api.url}/v1/ask", json={"question": "", "sourse": 1}), 422)
    fields = {e["field"] for e in body["errors"]}  # type: ignore[attr-defined]
    assert {"question", "sourse"} <= fields, body
    _is_problem(httpx.get(f"{api.url}/v1/documents/doc_nope"), 404)
    _is_problem(httpx.get(f"{api.url}/v1/no/such/route"), 404)
    _is_problem(httpx.put(f"{api.url}/v1/ask", json={}), 405)
    _is_problem(httpx.post(f"{api.url}/v1/documents", content=b"x", headers={"content-type": "text/csv"}), 415)
    _is_problem(httpx.get(f"{api.url}/v1/jobs", params={"limit": 0}), 422)


def test_unversioned_resource_paths_are_gone(api: LiveServer) -> None:
    assert httpx.get(f"{api.url}/documents").status_code == 404
    assert httpx.get(f"{api.url}/v1/documents").status_code == 200


def test_security_headers_on_every_response(api: LiveServer) -> None:
    for r in (
        httpx.get(f"{api.url}/healthz"),
        httpx.get(f"{api.url}/v1/documents"),
        httpx.get(f"{api.url}/v1/documents/doc_nope"),
        httpx.post(f"{api.url}/v1/documents", json={"text": REPORT}, headers={"origin": "https://evil.example"}),
    ):
        assert r.headers["x-content-type-options"] == "nosniff", r.headers
        assert r.headers["x-frame-options"] == "DENY"
        assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
        assert r.headers["referrer-policy"] == "no-referrer"


def test_cross_site_writes_are_refused(api: LiveServer) -> None:
    evil = {"origin": "https://evil.example"}
    # The "simple" requests a web page can send without a preflight: a multipart upload and a text/plain ask.
    upload = httpx.post(f"{api.url}/v1/documents", files={"file": ("r.txt", REPORT.encode())}, headers=evil)
    assert _is_problem(upload, 403)["code"] == "cross_site_request"
    plain = httpx.post(
        f"{api.url}/v1/ask", content=b'{"question": "Who?"}', headers={**evil, "content-type": "text/plain"}
    )
    _is_problem(plain, 403)
    no_origin = {"sec-fetch-site": "cross-site", "content-type": "application/json"}
    _is_problem(httpx.post(f"{api.url}/v1/documents", content=b'{"text": "x"}', headers=no_origin), 403)
    _is_problem(httpx.delete(f"{api.url}/v1/documents/doc_x", headers={"origin": "null"}), 403)
    assert httpx.get(f"{api.url}/v1/documents").json()["items"] == []  # nothing was written
    # No CORS grant by default: a page on another origin can't read responses either.
    assert "access-control-allow-origin" not in httpx.get(f"{api.url}/v1/documents", headers=evil).headers
    # The server's own origin (its own pages) and clients outside a browser (no Origin) may write.
    own = {"origin": api.url}
    assert httpx.post(f"{api.url}/v1/documents", json={"text": REPORT}, headers=own).status_code == 201


def test_docs_page_works_offline(api: LiveServer) -> None:
    page = httpx.get(f"{api.url}/docs")
    assert page.status_code == 200
    assets = re.findall(r"""(?:src|href)=['"]([^'"]+\.(?:js|css))['"]""", page.text)
    assert assets and all(a.startswith("/") for a in assets), assets  # no CDN
    for asset in assets:
        assert httpx.get(f"{api.url}{asset}").status_code == 200, asset
    schema = httpx.get(f"{api.url}/openapi.json").json()
    assert "Problem" in schema["components"]["schemas"]
    ask_errors = schema["paths"]["/v1/ask"]["post"]["responses"]["4XX"]["content"]
    assert ask_errors["application/problem+json"]["schema"] == {"$ref": "#/components/schemas/Problem"}


def test_readyz_shows_no_paths_or_pids(api: LiveServer) -> None:
    body = httpx.get(f"{api.url}/readyz").text
    assert "pid" not in body and str(api.container.settings.data_dir) not in body, body
    assert not re.search(r"/(?:tmp|work|home|root|usr)/", body), body


def test_cursor_pagination(api: LiveServer) -> None:
    made = [
        httpx.post(f"{api.url}/v1/documents", json={"text": f"Report number {n} says little. It ends."}).json()["id"]
        for n in range(5)
    ]
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, str | int] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = httpx.get(f"{api.url}/v1/documents", params=params).json()
        seen += [d["id"] for d in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 3 and sorted(seen) == sorted(made) and len(set(seen)) == 5
    assert seen == [d["id"] for d in httpx.get(f"{api.url}/v1/documents").json()["items"]]  # one order
    for bad in ("nope", "eyJ4IjoxfQ", "A" * 600):
        r = httpx.get(f"{api.url}/v1/documents", params={"cursor": bad})
        assert r.status_code == 422 and "cursor" in r.json()["detail"], r.text
    assert httpx.get(f"{api.url}/v1/documents", params={"limit": 1001}).status_code == 422


def test_an_unexpected_error_is_a_bare_500_with_the_security_headers(tmp_path: Path) -> None:
    app = create_app(make_settings(tmp_path), start_llm=False, container=make_container(make_settings(tmp_path)))

    def broken() -> None:
        raise RuntimeError(f"boom in {tmp_path}/secret.db")

    app.dependency_overrides[deps.document_repo] = broken
    client = TestClient(app, base_url="http://127.0.0.1", raise_server_exceptions=False)
    r = client.get("/v1/documents")
    assert r.status_code == 500 and r.json()["code"] == "internal_error"
    assert str(tmp_path) not in r.text and "secret" not in r.text and "Traceback" not in r.text
    assert r.headers["x-content-type-options"] == "nosniff" and "content-security-policy" in r.headers
