"""HTTP routes for fact extraction and the cross-document fact query."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from service.container import Container
from service.domain.errors import InvalidInput, NotFound
from service.domain.facts import Evidence, Extraction
from service.services.extract_schemas import REGISTRY, REPORT_FACTS, custom_schema, get_schema


class ExtractIn(BaseModel):
    """Which schema to extract: a registered name, or a custom schema; `refresh` ignores the cache."""

    schema_name: str | None = Field(default=None, alias="schema", description="Registered schema id")
    custom_schema: dict[str, Any] | None = None
    refresh: bool = False

    model_config = ConfigDict(populate_by_name=True, extra="forbid")


class FactOut(BaseModel):
    """One fact with the document it came from."""

    document_id: str
    document_title: str
    kind: str
    fields: dict[str, Any]
    evidence: list[Evidence]


def build_extract_router(container: Container) -> APIRouter:
    """Extraction routes bound to one container."""
    router = APIRouter()

    @router.post("/documents/{document_id}/extractions", response_model=Extraction)
    def create_extraction(document_id: str, body: ExtractIn | None = None) -> Extraction:
        """Extract grounded facts (stored result unless `refresh`)."""
        body = body or ExtractIn()
        if body.custom_schema is not None and body.schema_name is not None:
            raise InvalidInput("give either `schema` or `custom_schema`, not both")
        if container.repo.get(document_id) is None:
            raise NotFound(f"document {document_id!r} does not exist")
        schema = custom_schema(body.custom_schema) if body.custom_schema is not None else get_schema(body.schema_name)
        return container.extract.extract(document_id, schema, refresh=body.refresh)

    @router.get("/documents/{document_id}/extractions", response_model=list[Extraction])
    def list_extractions(document_id: str) -> list[Extraction]:
        """Stored extractions of a document, newest first."""
        if container.repo.get(document_id) is None:
            raise NotFound(f"document {document_id!r} does not exist")
        return container.extractions.for_document(document_id)

    @router.get("/schemas")
    def list_schemas() -> dict[str, Any]:
        """Registered extraction schemas."""
        return {k: v.model_dump() for k, v in REGISTRY.items()}

    @router.get("/facts", response_model=list[FactOut])
    def facts(
        entity: str | None = Query(default=None, description="Name or alias, case-insensitive substring"),
        type: str | None = Query(
            default=None,
            description="Fact kind (entities, events, claims, quantities) or an entity type (person, country, ...)",
        ),
        schema: str = Query(default=REPORT_FACTS.id),
    ) -> list[FactOut]:
        """Facts across all stored extractions, filtered by entity and type."""
        get_schema(schema)
        titles = {d.id: d.title for d in container.repo.list()}
        out: list[FactOut] = []
        seen: set[str] = set()
        for ex in container.extractions.all(schema):
            if ex.document_id in seen or ex.document_id not in titles:
                continue  # newest extraction per live document only
            seen.add(ex.document_id)
            for kind, items in ex.facts.items():
                for f in items:
                    if type and type != kind and f.fields.get("type") != type:
                        continue
                    if entity and entity.lower() not in _haystack(f.fields):
                        continue
                    out.append(FactOut(document_id=ex.document_id, document_title=titles[ex.document_id], kind=kind,
                                       fields=f.fields, evidence=f.evidence))  # fmt: skip
        return out

    return router


def _haystack(fields: dict[str, Any]) -> str:
    parts: list[str] = []
    for v in fields.values():
        parts.extend(str(x) for x in v) if isinstance(v, list) else parts.append(str(v))
    return " ".join(parts).lower()
