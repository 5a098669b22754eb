"""Schema fuzzing: Schemathesis runs against the live OpenAPI schema over real HTTP, with a valid key, an invalid
key and no key. Every response must be no 5xx and conform to the schema (status, content type, body).

The model is an OpenAI-compatible stub on loopback (the fuzzer makes thousands of requests; the API surface, not
the model, is under test). The server requires keys, so "no key" and "invalid key" exercise the 401 paths.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import LiveServer, make_container, make_settings
from tests.stub_openai import StubServer, by_schema

REPORT = "Iran denied the report. The panel cited a member state. The shipment took place in 2020."
CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,ignored_auth"
QA = json.dumps({"sentences": [{"text": "Iran denied the report.", "passages": [1]}]})
FACTS = json.dumps({"entities": [], "events": [], "claims": [], "quantities": []})
SUMMARY = json.dumps({"sentences": [{"text": "Iran denied the report.", "sentences": [1]}] * 3})
DIGEST = json.dumps({"new": [], "agreements": [], "contradictions": []})


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, str]]:
    replies = by_schema(qa_answer=QA, report_facts=FACTS, summary=SUMMARY, digest=DIGEST)
    with StubServer([replies]) as stub:
        settings = make_settings(
            tmp_path_factory.mktemp("fuzz"),
            llm_base_url=stub.base_url,
            llm_model="stub",
            require_keys=True,
            rate_limit="",
            min_similarity=0.0,
            llm_max_attempts=1,
        )

        setup = make_container(settings)
        _, token = setup.access.create("admin", name="fuzzer")
        setup.close()
        with LiveServer(settings, start_llm=False, real_store=False) as api:
            r = httpx.post(
                f"{api.url}/v1/documents", json={"text": REPORT}, headers={"authorization": f"Bearer {token}"}
            )
            assert r.status_code == 201, r.text
            yield api, token


@pytest.mark.parametrize("auth", ["valid", "invalid", "none"])
def test_schemathesis_finds_no_5xx_and_no_schema_violation(
    server: tuple[LiveServer, str], auth: str, tmp_path: Path
) -> None:
    api, token = server
    headers = {"valid": ["-H", f"Authorization: Bearer {token}"], "invalid": ["-H", "Authorization: Bearer dsk_no"]}
    report = tmp_path / "report.json"
    cmd = [
        str(Path(sys.executable).parent / "schemathesis"),
        "run",
        f"{api.url}/openapi.json",
        "--checks",
        CHECKS,
        "--max-examples",
        os.environ.get("DOSSIER_FUZZ_EXAMPLES", "25"),
        "--seed",
        "7",
        "--workers",
        "1",
        "--phases",
        "examples,coverage,fuzzing",
        "--no-shrink",
        "--report",
        "json",
        "--report-json-path",
        str(report),
        *headers.get(auth, []),
    ]
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=900, env={**os.environ, "NO_COLOR": "1"})
    summary = run.stdout[-6000:]
    assert run.returncode == 0, summary
    print(f"[{auth} key]", summary[-600:])  # the case counts, shown with -s and kept in CI logs
