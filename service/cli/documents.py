"""`dossier ingest`, `ask`, `documents`, `delete`."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from service.adapters.files.loaders import SUPPORTED
from service.cli.app import app, console, container, out
from service.domain.access import DEFAULT_COLLECTION
from service.domain.models import DocumentMeta, RetrievalFilter
from service.ingest.service import IngestFailure, IngestResult, expand_paths


@app.command()
def ingest(
    paths: Annotated[list[Path], typer.Argument(help="Files or folders (.txt .md .html .pdf)")],
    title: Annotated[str | None, typer.Option(help="Title (single file)")] = None,
    source: Annotated[str | None, typer.Option(help="Source / outlet")] = None,
    url: Annotated[str | None, typer.Option()] = None,
    published: Annotated[str | None, typer.Option(help="YYYY-MM-DD")] = None,
    collection: Annotated[str, typer.Option(help="The collection the reports belong to")] = DEFAULT_COLLECTION,
) -> None:
    """Ingest reports; re-running skips what is already stored (resumable)."""
    files = expand_paths(paths, SUPPORTED)
    if not files:
        console.print("[red]no supported files found[/red]")
        raise typer.Exit(2)
    meta = DocumentMeta(
        title=title, source=source, url=url, published=dt.date.fromisoformat(published) if published else None
    )
    c = container()
    counts = {"created": 0, "replaced": 0, "unchanged": 0, "failed": 0}
    with Progress(
        TextColumn("[bold]ingest"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.description}"),
        console=console,
    ) as bar:
        task = bar.add_task("", total=len(files))

        def step(path: Path, result: IngestResult | IngestFailure) -> None:
            if isinstance(result, IngestFailure):
                counts["failed"] += 1
                bar.console.print(f"[red]failed[/red] {path}: {result.error}")
            else:
                counts[result.status] += 1
            bar.update(task, advance=1, description=path.name)

        c.ingest.ingest_paths(files, meta, step, collection)
    console.print(
        ", ".join(f"{k} {v}" for k, v in counts.items())
        + f"; {len(c.repo.ids())} documents, {c.index.count()} passages stored"
    )
    if counts["failed"]:
        raise typer.Exit(1)


@app.command()
def ask(
    question: str,
    doc: Annotated[list[str] | None, typer.Option(help="Restrict to document ids")] = None,
    source: Annotated[str | None, typer.Option()] = None,
    collection: Annotated[list[str] | None, typer.Option(help="Search only this collection (repeat)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the full JSON answer")] = False,
    min_confidence: Annotated[
        float | None, typer.Option(min=0.0, max=1.0, help="Confidence a sentence must reach (default: configured)")
    ] = None,
) -> None:
    """Ask a question; prints the answer, its confidence and its verified citations (or what was held back)."""
    c = container()
    try:
        flt = RetrievalFilter(document_ids=doc or None, source=source, collections=collection or None)
        answer = c.qa.ask(question, flt if (doc or source or collection) else None, min_confidence=min_confidence)
    finally:
        c.close()
    if as_json:
        out.print_json(answer.model_dump_json())
        return
    out.print(f"[bold]{answer.answer}[/bold]")
    if answer.confidence is not None:
        out.print(f"  confidence {answer.confidence:.2f} (threshold {answer.min_confidence:.2f})")
    if answer.held_back is not None:
        held = answer.held_back
        out.print(f"  held back: {held.text!r} ({held.reason})")
    for cit in answer.citations:
        out.print(f"  [{cit.passage_number}] {cit.title} [{cit.start}:{cit.end}] “{cit.quote}”")
    m = answer.meta
    console.print(
        f"[dim]{m.prompt_id}/v{m.prompt_version} model={m.model} settings={m.settings_hash} "
        f"tokens={m.usage.prompt_tokens}+{m.usage.completion_tokens} {m.latency_s:.1f}s[/dim]"
    )


@app.command()
def documents(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """List stored documents."""
    docs = container().repo.list()
    if as_json:
        out.print_json(json.dumps([d.model_dump(mode="json", exclude={"text"}) for d in docs]))
        return
    table = Table("id", "title", "source", "published", "sentences")
    for d in docs:
        table.add_row(d.id, d.title[:60], d.source or "", str(d.published or ""), str(d.sentence_count))
    out.print(table)


@app.command()
def delete(document_id: str) -> None:
    """Delete a document and its passages."""
    if not container().ingest.delete(document_id):
        console.print(f"[red]document {document_id!r} does not exist[/red]")
        raise typer.Exit(1)
    console.print(f"deleted {document_id}")
