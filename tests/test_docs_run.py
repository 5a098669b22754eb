"""The commands the README and docs/ show, run as shown: every `dossier` command through the CLI, and every `curl`
replayed over real HTTP (method, headers, body, form and file as the command gives them) against a served Dossier
with real Chroma and the real embedder; the model is the stub on loopback, which answers by quoting what it is
shown. A command may only stand in for what a reader fills in (DOC_ID, JOB_ID, a key, a file of their own).

`make` targets are not run here (`make test` is the test itself, `make run` / `make topology` / `docker compose up`
serve until stopped): tests/test_docs.py checks that each exists."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from service.cli import app as cli_app
from tests.conftest import ROOT, LiveServer, make_settings
from tests.stub_openai import StubServer, quoting, schema_name
from tests.test_docs import COMMANDS

EXAMPLES = ROOT / "examples" / "reports"
_REPORT = (
    "The Harbor Ledger reported on 9 February 2021 that a cargo ship left the port with 40 containers. "
    "The port authority said the manifest listed machine parts. "
    "Customs officers inspected 12 of the containers."
)


def _pdf(text: str) -> bytes:
    """A one-page PDF holding `text` (written out here, so the test needs no file of its own)."""
    stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode()
    objs = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out, offsets = bytearray(b"%PDF-1.4\n"), []
    for n, body in enumerate(objs, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % n + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objs) + 1, xref)
    return bytes(out)


def _model(body: dict[str, Any]) -> tuple[Any, ...]:
    """Quote the prompt for answers, summaries and digests; no facts (an empty list of each kind the schema
    requires) for an extraction."""
    if schema_name(body) not in ("summary", "summary_tail", "digest", "qa_answer"):
        required = body["response_format"]["json_schema"]["schema"].get("required", [])
        return ("content", json.dumps({kind: [] for kind in required}))
    return quoting()(body)


@pytest.fixture(scope="module")
def stub() -> Iterator[StubServer]:
    with StubServer([_model]) as server:
        yield server


class Filled:
    """What a reader fills in, as the commands run create it."""

    def __init__(self, tmp: Path) -> None:
        (tmp / "more").mkdir()
        (tmp / "more" / "report.pdf").write_bytes(_pdf(_REPORT))
        (tmp / "report.txt").write_text(_REPORT, encoding="utf-8")
        self.tmp = tmp
        self.values: dict[str, str] = {}

    def fill(self, token: str) -> str:
        for placeholder in ("DOC_ID", "<id>", "JOB_ID", "dsk_…", "key_3f2a9c01d4e5"):
            if placeholder in token:
                assert placeholder in self.values, f"{placeholder} is used before a command shown creates it"
                token = token.replace(placeholder, self.values[placeholder])
        token = token.replace('"text": "..."', json.dumps({"text": _REPORT})[1:-1])
        for path in ("examples/", "more/", "report.txt", "digest.md"):
            if token.startswith(path) or token.startswith("file=@" + path):
                where = str(ROOT if path == "examples/" else self.tmp) + "/"
                token = token.replace(path, where + path, 1)
        return token


def _order(tokens: list[str]) -> int:
    """Commands that create what others use first, those that delete it next, and one sending a key last (the
    first key turns authentication on)."""
    text = " ".join(tokens)
    if "dsk_" in text:
        return 4
    if "DELETE" in tokens or "revoke" in tokens:
        return 3
    if "DOC_ID" in text or "JOB_ID" in text or "<id>" in text or tokens[1:3] == ["keys", "list"]:
        return 2
    if "ingest" in tokens or "create" in tokens or (("-F" in tokens or "-d" in tokens) and "/v1/documents" in text):
        return 0
    return 1


def _shown(program: str) -> list[tuple[str, list[str]]]:
    picked = [(name, tokens) for name, tokens in COMMANDS if tokens[0].rsplit("/", 1)[-1] == program]
    return sorted(picked, key=lambda c: _order(c[1]))


def test_every_dossier_command_shown_runs(tmp_path: Path, stub: StubServer, monkeypatch: pytest.MonkeyPatch) -> None:
    env = {
        "DOSSIER_DATA_DIR": str(tmp_path / "data"),
        "DOSSIER_LLM_BASE_URL": stub.base_url,
        "DOSSIER_LLM_MODEL": "stub",
        "DOSSIER_LLM_MAX_ATTEMPTS": "1",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    filled, runner, ran = Filled(tmp_path), CliRunner(), 0
    first = runner.invoke(cli_app, ["ingest", str(EXAMPLES / "02_iran_denial.txt")])
    assert first.exit_code == 0, first.output
    docs = runner.invoke(cli_app, ["documents", "--json"])
    assert docs.exit_code == 0, docs.output
    filled.values["DOC_ID"] = json.loads(docs.stdout)[0]["id"]
    for name, tokens in _shown("dossier"):
        args = [filled.fill(t) for t in tokens[1:]]
        result = runner.invoke(cli_app, args)
        assert result.exit_code == 0, (name, args, result.output)
        if args[:2] == ["keys", "create"]:
            created = re.search(r"created (key_\w+)", result.output)
            assert created is not None, (args, result.output)
            filled.values["key_3f2a9c01d4e5"] = created.group(1)
        ran += 1
    assert ran >= 15


def _replay(tokens: list[str], base: str) -> httpx.Response:
    """A curl command as httpx sends it: -X, -H, -d (JSON body) and -F (form fields, @file uploads)."""
    method, headers, data, form, files, url = None, {}, None, {}, {}, ""
    it = iter(tokens[1:])
    for t in it:
        if t == "-X":
            method = next(it)
        elif t == "-H":
            k, v = next(it).split(":", 1)
            headers[k.strip()] = v.strip()
        elif t == "-d":
            data = next(it)
        elif t == "-F":
            k, v = next(it).split("=", 1)
            if v.startswith("@"):
                files[k] = (Path(v[1:]).name, Path(v[1:]).read_bytes())
            else:
                form[k] = v
        elif "localhost:8000" in t:
            url = base + t.split("localhost:8000", 1)[1]
    method = method or ("POST" if data is not None or files else "GET")
    if files:
        return httpx.request(method, url, headers=headers, data=form, files=files, timeout=120)
    return httpx.request(method, url, headers=headers, content=data, timeout=120)


def _wait_for_job(base: str, job_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        job: dict[str, Any] = httpx.get(f"{base}/v1/jobs/{job_id}", timeout=30).json()
        if job["state"].startswith("completed"):
            return job
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} did not finish: {job}")


def test_every_curl_shown_runs(tmp_path: Path, stub: StubServer) -> None:
    settings = make_settings(tmp_path / "data", llm_base_url=stub.base_url, llm_model="stub", llm_max_attempts=1)
    filled, ran = Filled(tmp_path), 0
    with LiveServer(settings, start_llm=False) as api:
        doc = httpx.post(
            f"{api.url}/v1/documents",
            files={"file": ("02.txt", (EXAMPLES / "02_iran_denial.txt").read_bytes())},
            timeout=120,
        )
        assert doc.status_code == 201, doc.text
        filled.values.update({"DOC_ID": doc.json()["id"], "<id>": doc.json()["id"]})
        for name, tokens in _shown("curl"):
            if any("dsk_…" in t for t in tokens) and "dsk_…" not in filled.values:
                filled.values["dsk_…"] = api.container.access.create("reader", None, "docs")[1]
            r = _replay([filled.fill(t) for t in tokens], api.url)
            assert r.status_code < 400, (name, tokens, r.status_code, r.text[:300])
            if r.status_code == 202:
                filled.values["JOB_ID"] = r.headers["location"].rsplit("/", 1)[-1]
                assert _wait_for_job(api.url, filled.values["JOB_ID"])["failed"] == 0
            ran += 1
    assert ran >= 18
