"""Request and response bodies of the HTTP API."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from service.domain.access import DEFAULT_COLLECTION, UtcDateTime, check_collection
from service.domain.models import Document, DocumentMeta, RetrievalFilter, Sentence


class TextDocumentIn(DocumentMeta):
    """Raw text with metadata. `key` names the report across versions (defaults to url, else content)."""

    model_config = ConfigDict(extra="forbid")

    # The schema states what ingest enforces (with its own clearer messages): at least one non-space character.
    text: str = Field(
        description="Verbatim report text (UTF-8), not blank.", json_schema_extra={"minLength": 1, "pattern": r"\S"}
    )
    key: str | None = Field(default=None, min_length=1, max_length=1024)
    collection: str = Field(default=DEFAULT_COLLECTION, description="The collection the report belongs to.")

    @field_validator("collection")
    @classmethod
    def _collection(cls, name: str) -> str:
        return check_collection(name)


class DocumentOut(BaseModel):
    """A stored report without its text."""

    id: str
    title: str
    source: str | None
    url: str | None
    published: dt.date | None
    sentence_count: int
    created_at: UtcDateTime
    collection: str

    @classmethod
    def of(cls, d: Document) -> DocumentOut:
        return cls(
            id=d.id,
            title=d.title,
            source=d.source,
            url=d.url,
            published=d.published,
            sentence_count=d.sentence_count,
            created_at=d.created_at,
            collection=d.collection,
        )


class IngestOut(DocumentOut):
    """Result of POST /documents."""

    status: str = Field(description="created, replaced or unchanged")
    replaced_id: str | None = None


class DocumentDetail(DocumentOut):
    """A stored report with its verbatim text and sentence offsets."""

    text: str
    sentences: list[Sentence]


class AskIn(RetrievalFilter):
    """A question with optional retrieval filters."""

    model_config = ConfigDict(extra="forbid")

    question: str = Field(min_length=1, max_length=2000)
    stream: bool = Field(default=False, description="Send the answer's steps as Server-Sent Events.")
    min_confidence: float | None = Field(
        default=None,
        ge=0.0,
        le=1.0,
        description="Answer only with sentences whose calibrated confidence reaches this (default: the server's "
        "DOSSIER_QA_MIN_CONFIDENCE, else the calibrator's threshold); below it, abstain and show what was held back.",
    )

    @model_validator(mode="after")
    def _coherent_filters(self) -> AskIn:
        if self.collections is not None:
            if not self.collections:
                raise ValueError("collections is empty; omit it to search every collection the key may see")
            for name in self.collections:
                check_collection(name)
        if self.document_ids is not None:
            if not self.document_ids:
                raise ValueError("document_ids is empty; omit it to search every document")
            if len(self.document_ids) > 1000:
                raise ValueError("document_ids lists more than 1000 documents")
        if self.published_from and self.published_to and self.published_from > self.published_to:
            raise ValueError(f"published_from {self.published_from} is after published_to {self.published_to}")
        return self
