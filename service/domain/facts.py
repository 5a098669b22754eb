"""Fact extraction models: schemas, grounded facts, rejected facts, stored extractions."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, Field, model_validator

from service.domain.access import UtcDateTime
from service.domain.models import RunMeta

Grounding = Literal["exact", "fuzzy", "sentence"]
SupportMode = Literal["mention", "statement"]


class Evidence(BaseModel):
    """A span of a document; `text == document.text[start:end]` by construction."""

    document_id: str
    start: int
    end: int
    text: str
    grounding: Grounding = "sentence"


class FactKind(BaseModel):
    """One list of facts in a schema (e.g. `entities`): the JSON schema of one fact's fields.

    `anchor` is the field located in the text to narrow evidence (a name, a value, a statement).
    `support` says how the fact is checked: `mention` (the anchor must occur in the cited sentences)
    or `statement` (the fact's text must be supported by them, as answers are).

    The rest is behaviour declared as data, so the engine never branches on a kind's name:
    `alias_field` holds more names to locate (and merges facts sharing one), `parties` are fields naming
    people or organisations that must occur in the document, `speaker_field`/`stance_field` get the
    stance rule (denial wording in the evidence makes the stance `denies`), and `date_field` is normalised into
    `<date_field>_iso`, lifted from `date_source` when the model left it there. `occurrence` marks a kind of
    things that happened: a fact resting only on the report's headline is rejected, since that is a summary,
    not an occurrence.
    """

    description: str
    fields: dict[str, Any]
    required: list[str]
    anchor: str
    support: SupportMode = "statement"
    max_items: int = 6
    alias_field: str | None = None
    parties: list[str] = Field(default_factory=list)
    speaker_field: str | None = None
    stance_field: str | None = None
    date_field: str | None = None
    date_source: str | None = None
    occurrence: bool = False

    @model_validator(mode="after")
    def _behaviour_names_fields(self) -> FactKind:
        named = [
            self.alias_field,
            *self.parties,
            self.speaker_field,
            self.stance_field,
            self.date_field,
            self.date_source,
        ]
        unknown = sorted({n for n in named if n is not None and n not in self.fields})
        if unknown:
            raise ValueError(f"behaviour names fields the kind does not have: {', '.join(unknown)}")
        return self


class FactSchema(BaseModel):
    """A versioned extraction schema: named kinds of facts."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")
    version: int = Field(default=1, ge=1)
    description: str = ""
    kinds: dict[str, FactKind]
    example: str = Field(default="", description="A worked example shown in the prompt (sentences and JSON).")

    @property
    def ref(self) -> str:
        return f"{self.id}@v{self.version}"

    def output_json_schema(self) -> dict[str, Any]:
        """What the model must return: each fact's fields plus the numbers of its sentences."""
        props: dict[str, Any] = {}
        for name, kind in self.kinds.items():
            fields = {f: _bounded(spec) for f, spec in kind.fields.items()}
            item = {
                "type": "object",
                "properties": {**fields, "sentences": {"type": "array", "items": {"type": "integer"}, "maxItems": 4}},
                "required": [*kind.required, "sentences"],
            }
            props[name] = {"type": "array", "items": item, "maxItems": kind.max_items}
        return {"type": "object", "properties": props, "required": list(self.kinds)}


def _bounded(spec: dict[str, Any]) -> dict[str, Any]:
    """Cap strings and arrays so a small model cannot loop inside one value (grammar-enforced)."""
    if spec.get("type") == "string" and "enum" not in spec:
        return {"maxLength": 240, **spec}
    if spec.get("type") == "array":
        return {"maxItems": 6, **spec, "items": _bounded(dict(spec.get("items") or {"type": "string"}))}
    return spec


class Fact(BaseModel):
    """One grounded fact: its fields as extracted (plus normalised ones) and its evidence."""

    kind: str
    fields: dict[str, Any]
    evidence: list[Evidence]


class RejectedFact(BaseModel):
    """A fact the model proposed whose evidence could not be located, and why."""

    kind: str
    fields: dict[str, Any]
    cited: list[int]
    reason: str


class Extraction(BaseModel):
    """Stored result of extracting one document with one schema, prompt and model."""

    document_id: str
    schema_id: str
    schema_version: int
    facts: dict[str, list[Fact]]
    rejected: list[RejectedFact]
    windows: int
    meta: RunMeta
    created_at: UtcDateTime
    cached: bool = False

    @property
    def fact_count(self) -> int:
        return sum(len(v) for v in self.facts.values())

    def grounding_rate(self) -> float:
        """Share of proposed facts that were grounded (returned rather than rejected)."""
        total = self.fact_count + len(self.rejected)
        return 1.0 if total == 0 else self.fact_count / total


class EntityMention(BaseModel):
    """Where a resolved entity is named: one report's entity fact and its verbatim spans."""

    document_id: str
    document_title: str
    reported: dt.date = Field(description="The report's published date, or the day it was ingested")
    name: str = Field(description="The name this report gives it")
    evidence: list[Evidence]


class EntitySummary(BaseModel):
    """One real-world entity across the reports of the collections a caller sees (without its mentions)."""

    id: str
    name: str
    aliases: list[str]
    type: str | None
    documents: int
    first_reported: dt.date
    last_reported: dt.date
    confidence: float = Field(
        description="The lowest calibrated P(same entity) among the links that joined its reports (1.0 for one)"
    )
    calibrator: str = Field(default="", description="The calibrator artefact (`entity_calibrator/vN`) that joined them")


class Entity(EntitySummary):
    """An entity with every mention: each report that names it, with the verbatim spans."""

    mentions: list[EntityMention]


class ClaimSide(BaseModel):
    """One side of a disagreement: a report's fact and the verbatim sentence that states it."""

    document_id: str
    document_title: str
    reported: dt.date = Field(description="The report's published date, or the day it was ingested")
    kind: str = Field(description="The fact's kind: claims, quantities or events")
    evidence: Evidence


class Disagreement(BaseModel):
    """Two reports' statements the model judges incompatible, with the calibrated probability that they are."""

    id: str
    a: ClaimSide
    b: ClaimSide
    confidence: float = Field(description="Calibrated P(the two statements contradict each other)")
    signals: dict[str, float | None] = Field(
        description="The model's own probabilities the confidence is calibrated from: `related` (1 - P(unrelated)), "
        "`contradict` and `agree` (P(contradict), P(agree) of agree/contradict/unrelated) and `not_both` "
        "(1 - P(both can be true))"
    )
    meta: RunMeta


class Corroborating(BaseModel):
    """Another report's sentence that states the same thing, with the calibrated probability that it does."""

    side: ClaimSide
    confidence: float = Field(description="Calibrated P(the two statements agree: this one states the fact too)")


class Corroboration(BaseModel):
    """Who else states a fact: other reports' sentences the model judges to agree with the fact's sentence."""

    count: int = Field(
        description="Independent sources that state it besides the fact's own: distinct publishers (a report's "
        "`source`), a report without one counting as its own source"
    )
    sources: list[Corroborating] = Field(description="The agreeing sentences, most confident first")
    complete: bool = Field(
        description="Every candidate sentence of other reports was judged; false when the request's budget of new "
        "judgements ran out (ask again to go on)"
    )
    min_confidence: float = Field(description="The P(agree) a sentence needed to count")
    meta: RunMeta
