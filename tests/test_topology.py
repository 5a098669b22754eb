"""The scale-out topology on loopback, as `make topology` starts it: a real Postgres (documents, jobs, lexical
index, the procrastinate queue), a real Chroma server (`chroma run`, reached with HttpClient), two API replicas and
two `dossier worker` processes, all real processes talking real HTTP. The model is the OpenAI-compatible stub
(summaries take seconds each, so a worker can be killed in the middle of one); it quotes the sentences it is shown,
so every answer and summary passes Dossier's verification.

Scenario: reports are ingested through replica A and asked about through replica B; a summary batch starts, one
worker is SIGKILLed while both are summarising and started again at once, and the batch must still complete with
every report summarised exactly once: one model call per report, plus one for the item the killed worker lost.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import yaml

from service import cli
from service.config import Settings
from service.topology.launch import Topology
from tests.stub_openai import StubServer, numbered_lines, quoting, schema_name

REPO = Path(__file__).resolve().parent.parent
NAMES = ["Amber", "Birch", "Cobalt", "Delta", "Ember", "Falcon"]
SUMMARY_S = 4.0  # how long the stub takes over one summary


def _report(i: int, name: str) -> str:
    return (
        f"{name} Trading shipped {12 + i} drone engines to the port of Tartus in March 2021. "
        f"The panel said the {name} shipment breached the arms embargo. "
        f"{name} Trading denied that it had sold engines to any armed group."
    )


def _summarised_doc(body: dict[str, Any]) -> str:
    return next(w for w in NAMES if w in numbered_lines(body)[0])


def test_two_replicas_two_workers_one_killed_mid_batch(tmp_path: Path) -> None:
    with (
        StubServer([quoting(SUMMARY_S)]) as stub,
        Topology(
            tmp_path / "topology",
            llm_base_url=stub.base_url,
            llm_model="stub",
            env={"DOSSIER_WORKER_HEARTBEAT_S": "1", "DOSSIER_WORKER_STALLED_S": "4", "DOSSIER_MIN_SIMILARITY": "0.05"},
        ) as topo,
    ):
        a, b = topo.api_urls
        ids = {}
        for i, name in enumerate(NAMES):  # ingest through replica A
            r = httpx.post(f"{a}/v1/documents", json={"text": _report(i, name), "title": f"{name} report"}, timeout=60)
            assert r.status_code == 201, r.text
            ids[name] = r.json()["id"]

        # ask through replica B: it finds what A ingested (shared Postgres and Chroma server)
        r = httpx.post(f"{b}/v1/ask", json={"question": "How many drone engines did Cobalt Trading ship?"}, timeout=60)
        assert r.status_code == 200, r.text
        answer = r.json()
        assert not answer["abstained"], answer
        assert "14 drone engines" in answer["answer"]
        assert {c["document_id"] for c in answer["citations"]} == {ids["Cobalt"]}
        assert httpx.get(f"{b}/v1/documents/{ids['Amber']}", timeout=10).status_code == 200

        r = httpx.post(f"{a}/v1/summaries/batch", json={}, timeout=30)
        assert r.status_code == 202, r.text
        job_id = r.json()["job_id"]

        # both workers are summarising (each does one task at a time): kill one of them mid-item
        deadline = time.monotonic() + 60
        while sum(_is_summary(q) for q in stub.requests) < 2:
            assert time.monotonic() < deadline, "the workers never took the batch's items"
            time.sleep(0.1)
        topo.kill(topo.worker(0))
        # a worker starting while the batch is under way (here, the killed one back up) queues nothing again:
        # the job has live tasks (the killed worker's own task is still `doing` until its lease runs out)
        restarted = topo.restart(topo.worker(0))

        deadline = time.monotonic() + 120
        while not (job := httpx.get(f"{b}/v1/jobs/{job_id}", timeout=10).json())["state"].startswith("completed"):
            assert time.monotonic() < deadline, job
            time.sleep(0.5)
        for doc_id in ids.values():  # each report's summary, read through the other replica
            assert httpx.get(f"{b}/v1/summaries/{doc_id}", timeout=10).status_code == 200, json.dumps(job)
        assert restarted.proc.poll() is None
        readies = [line for line in topo.log("worker-0").read_text().splitlines() if "worker ready (" in line]
        assert len(readies) == 2 and "worker ready (0 unfinished job(s) queued again)" in readies[1], readies

    assert job["state"] == "completed" and job["done"] == len(NAMES) and job["failed"] == 0, job
    calls = Counter(_summarised_doc(q) for q in stub.requests if _is_summary(q))
    assert set(calls) == set(NAMES)
    assert sum(calls.values()) == len(NAMES) + 1, calls  # the killed worker's item, and nothing else, twice
    assert sorted(calls.values()) == [1] * (len(NAMES) - 1) + [2], calls
    digests = [q for q in stub.requests if schema_name(q) == "digest"]
    assert len(digests) == 1  # one digest, by one worker
    assert job["digest"] is not None


def _is_summary(body: dict[str, Any]) -> bool:
    return schema_name(body) == "summary"


def test_compose_file_runs_the_same_parts_with_real_settings() -> None:
    """compose.yaml (no Docker daemon in CI) names the parts `make topology` starts, runs only commands the CLI
    has, and sets only settings Dossier knows (a misspelt DOSSIER_ variable would be silently ignored)."""
    compose = yaml.safe_load((REPO / "compose.yaml").read_text())
    services = compose["services"]
    commands = {name: svc.get("command", []) for name, svc in services.items()}
    assert sum(c[:2] == ["dossier", "serve"] for c in commands.values()) == 2
    assert sum(c[:2] == ["dossier", "worker"] for c in commands.values()) == 2
    assert sum(c[:2] == ["dossier", "model-server"] for c in commands.values()) == 2
    assert commands["chroma"][:2] == ["chroma", "run"] and services["postgres"]["image"].startswith("postgres:")
    known = {c.name or (c.callback.__name__ if c.callback else "") for c in cli.app.registered_commands}
    assert {c[1] for c in commands.values() if c[:1] == ["dossier"]} <= known
    fields = {f"DOSSIER_{name.upper()}" for name in Settings.model_fields}
    for name, svc in services.items():
        env = svc.get("environment") or {}
        assert {k for k in env if k.startswith("DOSSIER_")} <= fields, name
    routed = yaml.safe_load((REPO / "deploy" / "litellm.yaml").read_text())["model_list"]
    assert {m["model_name"] for m in routed} == {services["api-a"]["environment"]["DOSSIER_LLM_MODEL"]}
    assert {m["litellm_params"]["api_base"] for m in routed} == {"http://model-1:8081/v1", "http://model-2:8081/v1"}
