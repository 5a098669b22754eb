"""The `verified` judge: one candidate sentence against only the sentences it cites, on a short prompt of its own,
asked when the two judges on the answer's prefix leave the confidence in DOSSIER_QA_VERIFY_BAND; the calibrator's
`verified` model then decides. Over HTTP to an OpenAI-compatible stub."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from service.adapters.files.prompts import YamlPromptStore
from service.domain.errors import ConfigurationError
from service.domain.models import Answer, DocumentMeta
from tests.conftest import ROOT, judged_prompts, make_container, make_settings
from tests.stub_openai import StubServer, quoting

CALIBRATOR = """id: qa_calibrator
version: 1
description: A test calibrator; with p_verified the decision follows it, without it p_supported alone.
target: tests
threshold: 0.5
models:
- {name: verified, features: [p_supported, p_verified], mean: [0.5, 0.5], scale: [1.0, 0.1], coef: [0.0, 3.0],
   intercept: 0.0}
- {name: full, features: [p_supported], mean: [0.5], scale: [0.25], coef: [2.0], intercept: 0.0}
- {name: no_logprobs, features: [cover], mean: [0.5], scale: [1.0], coef: [0.0], intercept: 2.0}
"""
REPORT = "Station Alpha sent 12 crates to Port Beta in May. Station Gamma received 40 drums of fuel in June."
QUESTION = "How many crates did Station Alpha send?"


def _is_verify(body: dict[str, Any]) -> bool:
    return "Proposed answer:" in body["messages"][-1]["content"]


def _ask(tmp: Path, shared_yes: float, verified_yes: float, logprobs: bool = True, **kw: Any) -> tuple[Answer, list]:
    kw.setdefault("qa_verify_band", (0.3, 0.8))
    prompts = judged_prompts(tmp)
    (prompts / "qa_calibrator" / "v1.yaml").write_text(CALIBRATOR, encoding="utf-8")
    with StubServer([quoting()]) as stub:
        stub.logprobs = logprobs
        stub.judge_yes = lambda body: verified_yes if _is_verify(body) else shared_yes
        settings = make_settings(
            tmp, llm_base_url=stub.base_url, llm_model="stub", llm_max_attempts=1, prompts_dir=prompts, **kw
        )
        c = make_container(settings)
        c.ingest.ingest_text(REPORT, DocumentMeta(title="Stations"), "k")
        answer = c.qa.ask(QUESTION)
        c.close()
        return answer, [b for b in stub.judged if _is_verify(b)]


def test_in_the_band_the_sentence_is_verified_against_only_what_it_cites(tmp_path: Path) -> None:
    answer, verified = _ask(tmp_path, shared_yes=0.5, verified_yes=0.95)  # P(supported) 0.5: confidence 0.5
    assert len(verified) == 1
    ask = verified[0]["messages"][-1]["content"]
    assert "Station Alpha sent 12 crates to Port Beta in May." in ask and "Gamma" not in ask  # the cited one only
    assert not answer.abstained and answer.sentences[0].signals["p_verified"] == 0.95
    assert answer.meta.usage.calls == 4  # answer, two judges on its prefix, the one alone


def test_a_sentence_the_verified_judge_rejects_is_held_back(tmp_path: Path) -> None:
    answer, verified = _ask(tmp_path, shared_yes=0.5, verified_yes=0.05)
    assert len(verified) == 1 and answer.abstained
    assert answer.held_back is not None and answer.held_back.confidence is not None
    assert answer.held_back.confidence < 0.5


def test_outside_the_band_no_call_is_made(tmp_path: Path) -> None:
    answer, verified = _ask(tmp_path, shared_yes=0.95, verified_yes=0.05)  # confidence 0.97: above the band
    assert verified == [] and not answer.abstained and "p_verified" not in answer.sentences[0].signals


def test_by_default_it_is_never_asked(tmp_path: Path) -> None:
    assert make_settings(tmp_path).qa_verify_band == (1.0, 0.0)


def test_an_empty_band_never_asks(tmp_path: Path) -> None:
    answer, verified = _ask(tmp_path, shared_yes=0.5, verified_yes=0.05, qa_verify_band=(1.0, 0.0))
    assert verified == [] and not answer.abstained  # p_supported 0.5 alone: confidence 0.5, the threshold


def test_without_log_probabilities_it_is_not_asked(tmp_path: Path) -> None:
    answer, verified = _ask(tmp_path, shared_yes=0.5, verified_yes=0.05, logprobs=False, qa_verify_band=(0.0, 1.0))
    assert verified == [] and answer.meta.usage.calls == 2  # the answer, one judge that came back without


def test_a_judge_asked_alone_may_use_only_its_own_placeholders(tmp_path: Path) -> None:
    folder = tmp_path / "prompts"
    (folder / "qa").mkdir(parents=True)
    text = (ROOT / "prompts" / "qa" / "v3.yaml").read_text(encoding="utf-8")
    (folder / "qa" / "v3.yaml").write_text(text.replace("{source}", "{passages}"), encoding="utf-8")
    with pytest.raises(ConfigurationError, match="asked alone may use only"):
        YamlPromptStore(folder).get("qa", 3)
