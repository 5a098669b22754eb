"""The declarative base every SQL table of Dossier is declared on, and the registry of tables whose rows are
derived from one document (deleted with it). Table modules import this; `db` (engine and migrations)
imports them, so no two modules import each other."""

from __future__ import annotations

from sqlalchemy import Table
from sqlalchemy.orm import DeclarativeBase


class Base(DeclarativeBase):
    """Declarative base for Dossier's tables."""


_CHILDREN: list[str] = []  # tables with a `document_id` column whose rows die with their document


def derived_from_document(table_name: str) -> None:
    """Register a table whose rows are derived from one document (deleted with it)."""
    _CHILDREN.append(table_name)


def document_children() -> list[Table]:
    """The registered tables derived from documents."""
    return [Base.metadata.tables[name] for name in _CHILDREN]
