"""End to end over real HTTP against the real llama.cpp server and model, on the seed reports."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import LiveServer

pytestmark = pytest.mark.e2e

ANSWERABLE = [
    # question, a fact the answer must state, evidence the cited quote must contain. Each is stated by one seed
    # sentence, in words close to the question's: the calibrated decision answers these (confidence 0.65-0.75 on
    # the 1.5B); a loosely worded one ("What type of drones ...?") is held back at 0.44 with the right candidate shown.
    (
        "When did the most recent shipment linked to Iran-North Korea missile cooperation take place, according to "
        "the panel?",
        "2020",
        "most recent shipment",
    ),
    (
        "Which Iranian research center received support from North Korean missile specialists?",
        "Shahid Haj Ali Movahed",
        "Shahid Haj Ali Movahed Research Center",
    ),
    ("What drone model did the UN panel identify among the drones shown at the parade?", "Mavic 2 Pro", "Mavic 2 Pro"),
]


@pytest.fixture(scope="module")
def seeded(e2e_api: LiveServer, seeds: list[Path]) -> dict[str, str]:
    texts = {}
    for path in seeds:
        with path.open("rb") as fh:
            r = httpx.post(f"{e2e_api.url}/v1/documents", files={"file": (path.name, fh, "text/plain")}, timeout=120)
        assert r.status_code in (200, 201), r.text
        doc_id = r.json()["id"]
        texts[doc_id] = httpx.get(f"{e2e_api.url}/v1/documents/{doc_id}").json()["text"]
    return texts


def _ask(api: LiveServer, question: str) -> dict[str, Any]:
    r = httpx.post(f"{api.url}/v1/ask", json={"question": question}, timeout=600)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def _assert_citations_verbatim(answer: dict[str, Any], texts: dict[str, str]) -> None:
    for c in answer["citations"]:
        assert c["quote"] == texts[c["document_id"]][c["start"] : c["end"]]


@pytest.fixture(scope="module")
def answers(e2e_api: LiveServer, seeded: dict[str, str]) -> dict[str, dict[str, Any]]:
    return {q: _ask(e2e_api, q) for q, _, _ in ANSWERABLE}


@pytest.mark.parametrize(("question", "fact", "evidence"), ANSWERABLE)
def test_the_seed_questions_are_answered_with_verified_citations(
    answers: dict[str, dict[str, Any]], seeded: dict[str, str], question: str, fact: str, evidence: str
) -> None:
    """One seed sentence answers each question: the answer states the fact, cites verbatim spans holding the
    evidence, and its confidence reaches the threshold it was decided with. An abstention fails."""
    answer = answers[question]
    meta = answer["meta"]
    assert meta["prompt_id"] == "qa" and meta["prompt_version"] >= 2 and meta["calibrator"]
    assert meta["usage"]["prompt_tokens"] > 0 and meta["settings_hash"]
    assert not answer["abstained"], answer
    assert answer["confidence"] >= answer["min_confidence"]
    assert all(s["confidence"] >= answer["min_confidence"] for s in answer["sentences"])
    assert answer["signals"]["p_supported"] is not None  # the real server returns log-probabilities
    assert answer["citations"], answer
    _assert_citations_verbatim(answer, seeded)
    assert fact.lower() in answer["answer"].lower()
    assert any(evidence.lower() in c["quote"].lower() for c in answer["citations"]), answer["citations"]


@pytest.mark.parametrize(
    "question",
    ["How much did Iran pay North Korea for the missile parts?", "Who won the 2018 FIFA World Cup?"],
)
def test_abstains_when_the_seeds_do_not_say(e2e_api: LiveServer, seeded: dict[str, str], question: str) -> None:
    answer = _ask(e2e_api, question)
    assert answer["abstained"], answer
    assert answer["citations"] == []
    assert "do not say" in answer["answer"]
    held = answer["held_back"]  # what was withheld, if the model offered anything, and why
    assert held is None or (held["confidence"] is None or held["confidence"] < answer["min_confidence"])
