"""`dossier extract`, `dossier entities`, `dossier disagreements` and `dossier corroboration`."""

from __future__ import annotations

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

from service.cli.app import app, console, container, out
from service.extract.schemas import REPORT_FACTS, get_schema


@app.command()
def extract(
    doc_or_path: Annotated[str, typer.Argument(help="A document id, or a file to ingest first")],
    schema: Annotated[str | None, typer.Option(help="Registered schema (default report-facts)")] = None,
    refresh: Annotated[bool, typer.Option(help="Ignore the stored result")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the full JSON result")] = False,
) -> None:
    """Extract grounded facts from a document; prints a table (or JSON)."""
    c = container()
    path = Path(doc_or_path)
    doc_id = doc_or_path
    if path.is_file():
        results, failures = c.ingest.ingest_paths([path])
        if failures:
            console.print(f"[red]{failures[0].path}: {failures[0].error}[/red]")
            raise typer.Exit(2)
        doc_id = results[0].document.id
    try:
        with Progress(
            TextColumn("[bold]extract"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console
        ) as bar:
            task = bar.add_task("", total=None)
            result = c.extract.extract(
                doc_id,
                get_schema(schema),
                refresh=refresh,
                progress=lambda done, total: bar.update(task, completed=done, total=total),
            )
    finally:
        c.close()
    if as_json:
        out.print_json(result.model_dump_json())
        return
    for kind, facts in result.facts.items():
        table = Table("fact", "evidence", title=f"{kind} ({len(facts)})", title_justify="left", show_lines=False)
        for f in facts:
            desc = "; ".join(f"{k}={v}" for k, v in f.fields.items() if v not in (None, "", []))
            ev = " | ".join(f"[{e.start}:{e.end}] {e.text[:70]}" for e in f.evidence[:2])
            table.add_row(desc, ev)
        out.print(table)
    m = result.meta
    console.print(
        f"{result.fact_count} facts, {len(result.rejected)} rejected, grounding rate "
        f"{result.grounding_rate():.0%}, {result.windows} windows; {m.prompt_id}/v{m.prompt_version} "
        f"model={m.model} tokens={m.usage.prompt_tokens}+{m.usage.completion_tokens} "
        f"{m.latency_s:.0f}s{' (stored result)' if result.cached else ''}"
    )


@app.command()
def entities(
    entity_id: Annotated[str | None, typer.Argument(help="An entity id: print it with every mention")] = None,
    name: Annotated[str | None, typer.Option(help="Name or alias, case-insensitive substring")] = None,
    type: Annotated[str | None, typer.Option(help="Entity type (person, country, company, ...)")] = None,
    min_confidence: Annotated[
        float | None, typer.Option(min=0.0, max=1.0, help="Join reports' entities from this P(same) up")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """Entities across the reports' stored extractions: who and what, and which reports name them."""
    service = container().entities
    if entity_id:
        entity = service.get(entity_id, None, min_confidence)
        if as_json:
            out.print_json(entity.model_dump_json())
            return
        out.print(
            f"{entity.name} ({entity.type or 'entity'}), {entity.documents} report(s), "
            f"{entity.first_reported} to {entity.last_reported}; also: {', '.join(entity.aliases) or '-'}"
        )
        for m in entity.mentions:
            for ev in m.evidence:
                out.print(f'  {m.reported} {m.document_title[:40]}: "{ev.text}" [{ev.start}:{ev.end}]')
        return
    found = service.find(None, name=name, type=type, threshold=min_confidence)
    if as_json:
        out.print_json(json.dumps([e.model_dump(mode="json", exclude={"mentions"}) for e in found]))
        return
    table = Table("id", "name", "type", "reports", "first", "last", "aliases")
    for e in found:
        table.add_row(
            e.id,
            e.name,
            e.type or "",
            str(e.documents),
            str(e.first_reported),
            str(e.last_reported),
            ", ".join(e.aliases)[:60],
        )
    out.print(table)


@app.command()
def disagreements(
    min_confidence: Annotated[
        float | None, typer.Option(min=0.0, max=1.0, help="List pairs from this calibrated P(contradict) up")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """Statements of different reports the model judges incompatible, each side cited to its sentence."""
    found = container().disagreements.find(None, min_confidence)
    if as_json:
        out.print_json(json.dumps([d.model_dump(mode="json") for d in found]))
        return
    for d in found:
        out.print(f"{d.id}  P(contradict) {d.confidence:.2f}")
        for side in (d.a, d.b):
            ev = side.evidence
            out.print(f'  {side.reported} {side.document_title[:40]}: "{ev.text}" [{ev.start}:{ev.end}]')
    console.print(f"{len(found)} disagreement(s)")


@app.command()
def corroboration(
    document_id: Annotated[
        str | None, typer.Argument(help="Only this report's facts (default: every report's)")
    ] = None,
    min_confidence: Annotated[
        float | None, typer.Option(min=0.0, max=1.0, help="Count a sentence from this calibrated P(agree) up")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """Who else states each stored claim, quantity and event: other reports' sentences the model judges to agree,
    counted by independent source (at most DOSSIER_DISAGREEMENT_MAX_PAIRS new judgements a run; run again to go on)."""
    c = container()
    rows = [(d, t, f) for d, t, _, f in c.extract.query(REPORT_FACTS.id) if document_id in (None, d)]
    found = c.corroboration.for_facts([(d, f) for d, _, f in rows], None, min_confidence)
    done = [(t, f, x) for (_, t, f), x in zip(rows, found, strict=True) if x is not None]
    if as_json:
        items = [
            {"document_title": t, "fact": f.model_dump(mode="json"), "corroboration": x.model_dump(mode="json")}
            for t, f, x in done
        ]
        out.print_json(json.dumps(items))
        return
    for title, fact, x in done:
        out.print(f'{x.count} source(s){"" if x.complete else " so far"}  {title[:40]}: "{fact.evidence[0].text}"')
        for s in x.sources:
            ev = s.side.evidence
            out.print(f'  P(agree) {s.confidence:.2f} {s.side.reported} {s.side.document_title[:40]}: "{ev.text}"')
    console.print(f"{len(done)} statement(s), {sum(1 for *_, x in done if x.count)} corroborated")
