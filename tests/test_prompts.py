"""Prompt files declare their variables beside the template; a mismatch is a configuration error on load."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.adapters.files.prompts import YamlPromptStore
from service.domain.errors import ConfigurationError
from tests.conftest import ROOT


def test_every_shipped_prompt_loads_with_its_declared_variables() -> None:
    store = YamlPromptStore(ROOT / "prompts")
    for task in ("qa", "condense", "extract", "summarize", "digest"):
        tpl = store.get(task)
        assert tpl.variables and tpl.ref == f"{task}/v{tpl.version}"
    qa = store.get("qa")
    assert set(qa.judges) == {"supported", "answerable", "verified"}
    cal = store.calibrator("qa_calibrator")
    assert cal.ref == f"qa_calibrator/v{cal.version}" and 0.0 <= cal.threshold <= 1.0
    assert {m.name for m in cal.models} == {"full", "no_logprobs"}
    assert not any(f.startswith("p_") for f in cal.models[-1].features)  # the fallback needs no log-probabilities


def test_a_judge_asks_on_the_answer_prompt_s_own_prefix() -> None:
    qa = YamlPromptStore(ROOT / "prompts").get("qa")
    values = {"passages": "[1] A sentence.", "question": "What?"}
    answer = qa.render(**values)
    after = qa.judge("supported", '{"sentences": []}', **values)
    before = qa.judge("answerable", **values)
    assert after[: len(answer)] == answer and after[-2]["role"] == "assistant" and after[-1]["role"] == "user"
    assert before[0] == answer[0]
    shared = answer[1]["content"].split("Reply with JSON")[0]
    assert before[1]["content"].startswith(shared) and before[1]["content"] != answer[1]["content"]


def test_the_verified_judge_is_asked_alone_over_only_what_it_is_given() -> None:
    qa = YamlPromptStore(ROOT / "prompts").get("qa")
    asked = qa.judge(
        "verified", "Alpha sent 12 crates.", source="[cited] Alpha sent 12 crates in May.", question="How many?"
    )
    assert (
        len(asked) == 2
        and asked[0]["role"] == "system"
        and asked[0]["content"] != qa.render(passages="", question="")[0]["content"]
    )
    assert "Alpha sent 12 crates in May." in asked[1]["content"] and "How many?" in asked[1]["content"]
    assert "Proposed answer: Alpha sent 12 crates." in asked[1]["content"]


def test_an_undeclared_placeholder_is_refused(tmp_path: Path) -> None:
    (tmp_path / "qa").mkdir()
    (tmp_path / "qa" / "v1.yaml").write_text(
        "id: qa\nversion: 1\nvariables: [question]\nsystem: Answer.\nuser: '{question} {passages}'\n"
    )
    with pytest.raises(ConfigurationError, match="declares variables"):
        YamlPromptStore(tmp_path).get("qa")
