"""Registered extraction schemas and validation of caller-supplied ones."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from service.domain.errors import InvalidInput, NotFound
from service.domain.facts import FactKind, FactSchema

ENTITY_TYPES = [
    "person",
    "organization",
    "country",
    "facility",
    "weapon system",
    "company",
    "place",
    "other",
]
STANCES = ["asserts", "denies", "assesses", "reports"]
_NAME = {"type": "string", "maxLength": 80}
_TEXT = {"type": "string", "maxLength": 240}
_NAMES = {"type": "array", "items": _NAME, "maxItems": 4}

_REPORT_EXAMPLE = """Sentences:
[1] Officials in Caracas said on 3 May 2019 that the freighter Aurora carried 40 tonnes of copper to Rotterdam.
[2] The shipping firm Delmar Lines, which owns the Aurora, denied the claim, calling it "probably a mistake".
JSON:
{"entities": [{"name": "Caracas", "type": "place", "aliases": [], "sentences": [1]},
  {"name": "Aurora", "type": "other", "aliases": ["the freighter"], "sentences": [1, 2]},
  {"name": "Rotterdam", "type": "place", "aliases": [], "sentences": [1]},
  {"name": "Delmar Lines", "type": "company", "aliases": [], "sentences": [2]}],
 "events": [{"what": "the Aurora carried copper to Rotterdam", "actors": ["Aurora"], "date": "3 May 2019",
   "place": "Rotterdam", "sentences": [1]}],
 "claims": [{"statement": "the Aurora carried 40 tonnes of copper to Rotterdam", "speaker": "officials in Caracas",
   "stance": "asserts", "hedging": "", "sentences": [1]},
  {"statement": "the claim about the Aurora is a mistake", "speaker": "Delmar Lines", "stance": "denies",
   "hedging": "probably", "sentences": [2]}],
 "quantities": [{"value": "40", "unit": "tonnes", "measures": "copper carried by the Aurora", "sentences": [1]}]}"""

REPORT_FACTS = FactSchema(
    id="report-facts",
    version=2,  # v2: events are occurrences (no headline, no undated statement); stored v1 results are not reused
    description="Who and what is named, what happened and when, who claims or denies what, and the numbers.",
    kinds={
        "entities": FactKind(
            description="people, organizations, countries, facilities, weapon systems, companies and places "
            "named in the text; aliases are other names the text uses for the same one",
            fields={"name": _NAME, "type": {"type": "string", "enum": ENTITY_TYPES}, "aliases": _NAMES},
            required=["name", "type"],
            anchor="name",
            support="mention",
            max_items=10,
            alias_field="aliases",
        ),
        "events": FactKind(
            description="things that happened: what, who took part (actors), the date as written, the place",
            fields={"what": _TEXT, "actors": _NAMES, "date": _NAME, "place": _NAME},
            required=["what", "actors"],
            anchor="what",
            parties=["actors"],
            date_field="date",
            date_source="what",
            occurrence=True,
        ),
        "claims": FactKind(
            description="statements attributed to someone: the statement, the speaker or source, the stance "
            "(asserts, denies, assesses or reports) and any hedging words as written",
            fields={
                "statement": _TEXT,
                "speaker": _NAME,
                "stance": {"type": "string", "enum": STANCES},
                "hedging": _NAME,
            },
            required=["statement", "speaker", "stance"],
            anchor="statement",
            parties=["speaker"],
            speaker_field="speaker",
            stance_field="stance",
        ),
        "quantities": FactKind(
            description="numbers in the text: the value as written, its unit, and what it measures",
            fields={"value": _NAME, "unit": _NAME, "measures": _NAME},
            required=["value", "measures"],
            anchor="value",
            support="mention",
        ),
    },
    example=_REPORT_EXAMPLE,
)

SHIPMENTS = FactSchema(
    id="shipments",
    version=1,
    description="Transfers of goods between countries or entities.",
    kinds={
        "shipments": FactKind(
            description="shipments or transfers: what was shipped, from whom, to whom, and when (as written)",
            fields={"cargo": _TEXT, "sender": _NAME, "recipient": _NAME, "date": _NAME},
            required=["cargo", "sender", "recipient"],
            anchor="cargo",
            parties=["sender", "recipient"],
        )
    },
)

REGISTRY: dict[str, FactSchema] = {s.id: s for s in (REPORT_FACTS, SHIPMENTS)}
_ALLOWED_TYPES = {"string", "number", "integer", "boolean", "array"}
_RESERVED = {"sentences", "evidence"}


def get_schema(name: str | None) -> FactSchema:
    """A registered schema by id (default `report-facts`)."""
    schema = REGISTRY.get(name or REPORT_FACTS.id)
    if schema is None:
        raise NotFound(f"unknown extraction schema {name!r}; registered: {', '.join(sorted(REGISTRY))}")
    return schema


def custom_schema(raw: dict[str, Any]) -> FactSchema:
    """Validate a caller's schema: `{"id", "version"?, "kinds": {name: {"description", "fields", ...}}}`.

    Each kind's `fields` maps field names to flat JSON-schema types (string, number, integer, boolean, or
    an array of strings); `anchor` defaults to the first required string field.
    """
    kinds = raw.get("kinds")
    if not isinstance(kinds, dict) or not kinds:
        raise InvalidInput("custom schema needs a non-empty `kinds` object")
    for name, kind in kinds.items():
        if not isinstance(kind, dict) or not isinstance(kind.get("fields"), dict) or not kind["fields"]:
            raise InvalidInput(f"custom schema kind {name!r} needs a non-empty `fields` object")
        for fname, spec in kind["fields"].items():
            if fname in _RESERVED:
                raise InvalidInput(f"field name {fname!r} in kind {name!r} is reserved")
            if not isinstance(spec, dict) or spec.get("type") not in _ALLOWED_TYPES:
                raise InvalidInput(f"field {name}.{fname}: type must be one of {sorted(_ALLOWED_TYPES)}, got {spec!r}")
        kind.setdefault("required", list(kind["fields"]))
        required = kind["required"]
        if not isinstance(required, list) or not all(isinstance(f, str) for f in required):
            raise InvalidInput(f"kind {name!r}: `required` must be a list of field names, got {required!r}")
        if "anchor" in kind and not isinstance(kind["anchor"], str):
            raise InvalidInput(f"kind {name!r}: `anchor` must be a field name, got {kind['anchor']!r}")
        unknown = set(required) - set(kind["fields"])
        if unknown:
            raise InvalidInput(f"kind {name!r} requires unknown fields {sorted(unknown)}")
        strings = [f for f in kind["required"] if kind["fields"][f].get("type") == "string"]
        if "anchor" not in kind:
            if not strings:
                raise InvalidInput(f"kind {name!r} needs at least one required string field to ground")
            kind["anchor"] = strings[0]
        kind.setdefault("description", name)
    try:
        schema = FactSchema.model_validate(raw)
    except ValidationError as exc:
        raise InvalidInput(f"invalid custom schema: {exc.errors()[0]['loc']}: {exc.errors()[0]['msg']}") from exc
    if schema.id in REGISTRY:
        raise InvalidInput(f"custom schema id {schema.id!r} clashes with a registered schema")
    for name, kind in schema.kinds.items():
        if kind.anchor not in kind.fields:
            raise InvalidInput(f"kind {name!r}: anchor {kind.anchor!r} is not a field")
    return schema
