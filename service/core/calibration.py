"""Calibrated confidence: measured signals in, the probability that a result is right out.

A calibrator is a versioned artefact (`prompts/<task>/v<N>.yaml`, fit by `dossier calibrate` on dev data only): one
or more logistic models, each over its own named signals, in order of preference. A result is scored by the first
model whose signals are all present, so an endpoint that returns no log-probabilities is still scored, by the
model fit without them (the documented fallback), and a stream can score a sentence before the whole-answer
signals exist.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from pydantic import BaseModel, Field, model_validator


class LogisticModel(BaseModel):
    """`p = sigmoid(intercept + sum(coef_i * (x_i - mean_i) / scale_i))` over the named signals."""

    name: str
    features: list[str] = Field(min_length=1)
    mean: list[float]
    scale: list[float]
    coef: list[float]
    intercept: float

    @model_validator(mode="after")
    def _shapes(self) -> LogisticModel:
        n = len(self.features)
        if not (len(self.mean) == len(self.scale) == len(self.coef) == n):
            raise ValueError(f"model {self.name!r}: mean, scale and coef need one value per feature ({n})")
        if any(s <= 0 for s in self.scale):
            raise ValueError(f"model {self.name!r}: every scale must be positive")
        return self

    def applies(self, signals: Mapping[str, float | None]) -> bool:
        return all(signals.get(f) is not None for f in self.features)

    def probability(self, signals: Mapping[str, float | None]) -> float:
        z = self.intercept
        for f, mu, sd, w in zip(self.features, self.mean, self.scale, self.coef, strict=True):
            value = signals[f]
            assert value is not None  # `applies` was checked
            z += w * (value - mu) / sd
        return 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, z))))


class CalibratorFile(BaseModel):
    """A calibrator artefact: what it scores, what it was fit on, its models (preferred first), and the threshold
    that was chosen on the fit data (a default; users set their own)."""

    id: str
    version: int
    description: str = ""
    target: str = Field(description="What the probability is of, in words.")
    fit: dict[str, object] = Field(default_factory=dict, description="Data, sample, seed, library and settings.")
    threshold: float = Field(ge=0.0, le=1.0)
    models: list[LogisticModel] = Field(min_length=1)

    @property
    def ref(self) -> str:
        return f"{self.id}/v{self.version}"


class Scored(BaseModel):
    """A confidence and the calibrator model that gave it."""

    confidence: float
    model: str


class Calibrator:
    """Applies a `CalibratorFile`: the first of its models whose signals are all present scores the result."""

    def __init__(self, spec: CalibratorFile) -> None:
        self.spec = spec

    @property
    def ref(self) -> str:
        return self.spec.ref

    @property
    def threshold(self) -> float:
        return self.spec.threshold

    def score(self, signals: Mapping[str, float | None]) -> Scored | None:
        """The calibrated probability, or None when no model's signals are all present."""
        for model in self.spec.models:
            if model.applies(signals):
                return Scored(confidence=round(model.probability(signals), 4), model=model.name)
        return None
