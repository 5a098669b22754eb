"""API keys and roles over real HTTP: 401 without a valid key, 403 with too weak a role, tokens never stored."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from service.access.service import is_loopback
from service.cli import app as cli
from tests.conftest import LiveServer, make_container, make_settings

REPORT = "Iran denied the report. The panel cited a member state. The shipment took place in 2020."


def _bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def _problem(r: httpx.Response, status: int, needle: str) -> None:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert needle in r.json()["detail"], r.json()


def test_keyless_on_loopback_until_the_first_key(api: LiveServer) -> None:
    url = api.url
    assert httpx.get(f"{url}/v1/documents").status_code == 200  # keyless: no key exists yet, bound to loopback
    created = httpx.post(f"{url}/v1/keys", json={"role": "admin", "name": "ops"})
    assert created.status_code == 201, created.text
    admin = created.json()["token"]
    assert admin.startswith("dsk_") and len(admin) > 40
    r = httpx.get(f"{url}/v1/documents")
    _problem(r, 401, "API key is required")
    assert r.headers["www-authenticate"] == "Bearer"
    _problem(httpx.get(f"{url}/v1/documents", headers=_bearer("dsk_wrong")), 401, "unknown API key")
    _problem(httpx.get(f"{url}/v1/documents", headers={"authorization": f"Basic {admin}"}), 401, "Bearer")
    assert httpx.get(f"{url}/v1/documents", headers=_bearer(admin)).status_code == 200
    assert httpx.get(f"{url}/healthz").status_code == 200  # probes stay open


def test_roles(api: LiveServer) -> None:
    url = api.url
    admin = httpx.post(f"{url}/v1/keys", json={"role": "admin"}).json()["token"]
    made = {
        role: httpx.post(f"{url}/v1/keys", json={"role": role}, headers=_bearer(admin)).json()
        for role in ("reader", "writer")
    }
    reader, writer = _bearer(made["reader"]["token"]), _bearer(made["writer"]["token"])
    # reader: reads and asks, never writes
    _problem(httpx.post(f"{url}/v1/documents", json={"text": REPORT}, headers=reader), 403, "needs 'writer'")
    assert httpx.get(f"{url}/v1/documents", headers=reader).status_code == 200
    assert httpx.get(f"{url}/v1/jobs", headers=reader).status_code == 200
    # writer: ingests, extracts, deletes; never manages keys
    doc = httpx.post(f"{url}/v1/documents", json={"text": REPORT}, headers=writer)
    assert doc.status_code == 201, doc.text
    _problem(httpx.delete(f"{url}/v1/documents/{doc.json()['id']}", headers=reader), 403, "needs 'writer'")
    _problem(httpx.get(f"{url}/v1/keys", headers=writer), 403, "needs 'admin'")
    _problem(httpx.post(f"{url}/v1/keys", json={"role": "admin"}, headers=writer), 403, "needs 'admin'")
    assert httpx.delete(f"{url}/v1/documents/{doc.json()['id']}", headers=writer).status_code == 204
    # admin: lists keys without tokens, revokes
    listed = httpx.get(f"{url}/v1/keys", headers=_bearer(admin)).json()["items"]
    assert len(listed) == 3 and all("token" not in k for k in listed)
    key_id = made["writer"]["id"]
    assert httpx.delete(f"{url}/v1/keys/{key_id}", headers=_bearer(admin)).status_code == 204
    _problem(httpx.get(f"{url}/v1/documents", headers=writer), 401, "revoked")
    _problem(httpx.delete(f"{url}/v1/keys/{key_id}", headers=_bearer(admin)), 404, key_id)
    # bad key requests name the problem
    bad = httpx.post(f"{url}/v1/keys", json={"role": "owner"}, headers=_bearer(admin))
    assert bad.status_code == 422 and "role" in bad.json()["detail"]
    bad = httpx.post(f"{url}/v1/keys", json={"role": "reader", "collections": ["Bad Name"]}, headers=_bearer(admin))
    _problem(bad, 422, "not a valid name")


def test_tokens_are_stored_only_as_hashes(tmp_path: Path) -> None:
    c = make_container(make_settings(tmp_path))
    key, token = c.access.create("reader", ["team-a"], "analyst")
    with c.engine.connect() as conn:
        dump = " ".join(str(v) for row in conn.execute(text("SELECT * FROM api_keys")) for v in row)
    assert token not in dump and token[len(key.prefix) :] not in dump
    assert c.access.authenticate(token).collections == frozenset({"team-a"})
    c.close()


def test_require_keys_on_loopback(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, require_keys=True)
    c = make_container(settings)
    assert "refuses to start without API keys" in (c.access.startup_problem() or "")
    _, token = c.access.create("reader")
    c.close()
    with LiveServer(settings, start_llm=False, real_store=False) as server:
        _problem(httpx.get(f"{server.url}/v1/documents"), 401, "API key is required")
        assert httpx.get(f"{server.url}/v1/documents", headers=_bearer(token)).status_code == 200


def test_refuses_to_start_beyond_loopback_without_keys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("10.1.2.3")
    monkeypatch.setenv("DOSSIER_DATA_DIR", str(tmp_path))
    refused = CliRunner().invoke(cli, ["serve", "--host", "0.0.0.0"])
    assert refused.exit_code == 2, refused.output
    assert "refuses to start without API keys" in " ".join(refused.output.split())
    made = CliRunner().invoke(cli, ["keys", "create", "--role", "admin", "--collection", "team-a"])
    assert made.exit_code == 0, made.output
    token = made.stdout.strip().splitlines()[-1]
    assert token.startswith("dsk_")
    c = make_container(make_settings(tmp_path, host="0.0.0.0"))
    assert c.access.startup_problem() is None and not c.access.keyless()
    assert c.access.authenticate(token).role == "admin"
    listed = CliRunner().invoke(cli, ["keys", "list", "--json"])
    assert token not in listed.stdout and "team-a" in listed.stdout
    key_id = c.access.list()[0].id
    assert CliRunner().invoke(cli, ["keys", "revoke", key_id]).exit_code == 0
    assert CliRunner().invoke(cli, ["keys", "revoke", key_id]).exit_code == 1
    assert c.access.startup_problem() is not None  # the only key is revoked
    c.close()


def test_keyless_needs_a_loopback_host_and_ends_for_good_with_the_first_key(api: LiveServer) -> None:
    url = api.url
    # A page that rebinds its own domain to 127.0.0.1 sends its own name as Host: not keyless.
    rebound = httpx.get(f"{url}/v1/documents", headers={"host": "attacker.example"})
    _problem(rebound, 401, "API key is required")
    assert httpx.get(f"{url}/v1/documents", headers={"host": f"localhost:{api.port}"}).status_code == 200
    made = httpx.post(f"{url}/v1/keys", json={"role": "admin"}).json()
    admin = _bearer(made["token"])
    assert httpx.delete(f"{url}/v1/keys/{made['id']}", headers=admin).status_code == 204
    _problem(httpx.get(f"{url}/v1/documents"), 401, "API key is required")  # revoking the last key is no way back


def test_only_an_admin_of_every_collection_manages_keys(api: LiveServer) -> None:
    url = api.url
    scoped = httpx.post(f"{url}/v1/keys", json={"role": "admin", "collections": ["team-a"]}).json()["token"]
    for r in (
        httpx.post(f"{url}/v1/keys", json={"role": "admin"}, headers=_bearer(scoped)),
        httpx.get(f"{url}/v1/keys", headers=_bearer(scoped)),
        httpx.delete(f"{url}/v1/keys/key_x", headers=_bearer(scoped)),
    ):
        _problem(r, 403, "admin of every collection")


def test_while_keyless_is_cached_a_real_key_still_counts_and_a_made_up_one_only_on_loopback(tmp_path: Path) -> None:
    """Keyless mode ignores an unknown token (OpenAI clients insist on sending one), but a key made meanwhile by
    another process is checked as itself, never taken for the keyless admin."""
    settings = make_settings(tmp_path)
    here, other = make_container(settings), make_container(settings)
    assert here.access.authenticate("made-up", "localhost").role == "admin"  # keyless, and now cached
    _, token = other.access.create("reader", ["team-a"])  # another process: this one's cache hasn't noticed
    scoped = here.access.authenticate(token, "localhost")
    assert scoped.key_id is not None and scoped.role == "reader" and scoped.collections == frozenset({"team-a"})
    with pytest.raises(Exception, match="API key"):
        here.access.authenticate("made-up", "evil.example")  # keyless never applies off loopback
    here.close()
    other.close()


def test_document_search_is_a_literal_substring(api: LiveServer) -> None:
    for title in ("100% proof", "100 percent", "under_score", "underXscore", "Émile's report"):
        r = httpx.post(f"{api.url}/v1/documents", json={"text": f"Body of {title}.", "title": title})
        assert r.status_code == 201, r.text

    def found(q: str) -> list[str]:
        r = httpx.get(f"{api.url}/v1/documents", params={"q": q})
        assert r.status_code == 200, r.text
        return sorted(d["title"] for d in r.json()["items"])

    assert found("100%") == ["100% proof"]
    assert found("r_s") == ["under_score"]
    assert found("UNDER") == ["underXscore", "under_score"]
    assert found("Émile") == ["Émile's report"]
    assert found("\\") == []
    assert httpx.get(f"{api.url}/v1/documents", params={"q": "x" * 201}).status_code == 422
