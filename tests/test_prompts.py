"""Prompt files declare their variables beside the template; a mismatch is a configuration error on load."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.adapters.prompt_files import YamlPromptStore
from service.domain.errors import ConfigurationError
from tests.conftest import ROOT


def test_every_shipped_prompt_loads_with_its_declared_variables() -> None:
    store = YamlPromptStore(ROOT / "prompts")
    for task in ("qa", "qa_check", "qa_span", "condense", "referent", "extract", "summarize", "digest"):
        tpl = store.get(task)
        assert tpl.variables and tpl.ref == f"{task}/v{tpl.version}"


def test_an_undeclared_placeholder_is_refused(tmp_path: Path) -> None:
    (tmp_path / "qa").mkdir()
    (tmp_path / "qa" / "v1.yaml").write_text(
        "id: qa\nversion: 1\nvariables: [question]\nsystem: Answer.\nuser: '{question} {passages}'\n"
    )
    with pytest.raises(ConfigurationError, match="declares variables"):
        YamlPromptStore(tmp_path).get("qa")
