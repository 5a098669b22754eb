"""Prompt files: `prompts/<task>/v<N>.yaml`, validated on load."""

from __future__ import annotations

import re
import string
from pathlib import Path

import yaml
from pydantic import ValidationError

from service.core.calibration import CalibratorFile
from service.domain.errors import ConfigurationError
from service.domain.ports import SENTENCE_JUDGE_FIELDS, PromptTemplate

_VERSION = re.compile(r"^v(\d+)\.ya?ml$")


class YamlPromptStore:
    """PromptStore reading YAML files; checks id and version against the file name, and the placeholders
    against the `variables` the file declares."""

    def __init__(self, root: Path) -> None:
        self._root = root
        self._cache: dict[tuple[str, int], PromptTemplate] = {}

    def versions(self, task: str) -> list[int]:
        folder = self._root / task
        if not folder.is_dir():
            raise ConfigurationError(f"no prompt folder {folder}")
        return sorted(int(m.group(1)) for f in folder.iterdir() if (m := _VERSION.match(f.name)))

    def get(self, task: str, version: int | None = None) -> PromptTemplate:
        if version is None:
            found = self.versions(task)
            if not found:
                raise ConfigurationError(f"no prompt versions under {self._root / task}")
            version = found[-1]
        key = (task, version)
        if key not in self._cache:
            self._cache[key] = self._load(task, version)
        return self._cache[key]

    def calibrator(self, task: str, version: int | None = None) -> CalibratorFile:
        """A calibrator artefact, `prompts/<task>/v<N>.yaml` (the newest without `version`), validated."""
        if version is None:
            found = self.versions(task)
            if not found:
                raise ConfigurationError(f"no calibrator versions under {self._root / task}")
            version = found[-1]
        path = self._root / task / f"v{version}.yaml"
        try:
            spec = CalibratorFile.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
        except (OSError, yaml.YAMLError, ValidationError) as exc:
            raise ConfigurationError(f"invalid calibrator file {path}: {exc}") from exc
        if spec.id != task or spec.version != version:
            raise ConfigurationError(f"{path} declares {spec.ref}; expected {task}/v{version}")
        return spec

    def _load(self, task: str, version: int) -> PromptTemplate:
        path = self._root / task / f"v{version}.yaml"
        if not path.exists():
            raise ConfigurationError(f"prompt file {path} does not exist")
        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8"))
            tpl = PromptTemplate.model_validate(raw)
        except (yaml.YAMLError, ValidationError) as exc:
            raise ConfigurationError(f"invalid prompt file {path}: {exc}") from exc
        if tpl.id != task or tpl.version != version:
            raise ConfigurationError(
                f"{path} declares id={tpl.id!r} version={tpl.version}; expected {task!r} v{version}"
            )
        parts = (tpl.system, tpl.user, tpl.reply, *(j.ask for j in tpl.judges.values() if not j.alone))
        fields = {f for part in parts for _, f, _, _ in string.Formatter().parse(part) if f}
        if fields != set(tpl.variables):
            raise ConfigurationError(
                f"{path} uses placeholders {sorted(fields)} but declares variables {sorted(tpl.variables)}"
            )
        for name, judge in tpl.judges.items():
            own = {f for part in (judge.system, judge.ask) for _, f, _, _ in string.Formatter().parse(part) if f}
            if judge.alone and not own <= SENTENCE_JUDGE_FIELDS:
                raise ConfigurationError(
                    f"{path}: judge {name!r} asked alone may use only {sorted(SENTENCE_JUDGE_FIELDS)}, not "
                    f"{sorted(own - SENTENCE_JUDGE_FIELDS)}"
                )
        return tpl
