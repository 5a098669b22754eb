"""`dossier summarize` and `jobs`: summary batches, resumed when interrupted."""

from __future__ import annotations

import datetime as dt
import time
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
from service.container import Container
from service.domain.access import DEFAULT_COLLECTION
from service.domain.summaries import Job


def _run_job(c: Container, job: Job, out_path: Path | None) -> Job:
    with Progress(
        TextColumn(f"[bold]summarize {job.id}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.description}"),
        console=console,
    ) as bar:
        task = bar.add_task("", total=job.total, completed=job.done + job.failed)

        def step(j: Job) -> None:
            waiting = sum(i.state == "pending" and (i.error or "").startswith("waiting for the model") for i in j.items)
            notes = ([f"{j.failed} failed"] if j.failed else []) + (
                [f"{waiting} waiting for the model"] if waiting else []
            )
            bar.update(task, completed=j.done + j.failed, description=", ".join(notes))

        if c.queue.distributed:  # workers do it: follow the job's progress in the database
            c.queue.submit(job.id, job.kind)
            final = job
            try:
                while not final.state.startswith("completed"):
                    time.sleep(2)
                    final = c.jobs.get(job.id) or final
                    step(final)
            except KeyboardInterrupt:
                bar.stop()
                console.print(f"{job.id} goes on in the workers; follow it with `dossier jobs`")
                raise typer.Exit(130) from None
        else:
            final = c.batches.run(job.id, step)
    for item in final.items:
        if item.state == "failed":
            console.print(f"[red]failed[/red] {item.document_id} ({item.title[:50]}): {item.error}")
    if final.digest is not None:
        path = out_path or c.settings.data_dir / "digests" / f"{final.id}.md"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(final.digest.markdown, encoding="utf-8")
        console.print(f"digest written to {path}")
    elif final.digest_error:
        console.print(f"[red]digest failed:[/red] {final.digest_error}")
    console.print(f"{final.state}: {final.done} summarised, {final.failed} failed of {final.total}")
    return final


@app.command()
def summarize(
    new: Annotated[bool, typer.Option("--new", help="Reports ingested since the last completed batch")] = False,
    since: Annotated[str | None, typer.Option(help="Reports ingested on or after YYYY-MM-DD")] = None,
    ids: Annotated[str | None, typer.Option(help="Comma-separated document ids")] = None,
    out_path: Annotated[Path | None, typer.Option("--out", help="Digest Markdown file")] = None,
    collection: Annotated[str, typer.Option(help="The collection whose reports to summarise")] = DEFAULT_COLLECTION,
) -> None:
    """Summarise new reports (resuming any interrupted batch) and write a Markdown digest."""
    c = container()
    try:
        left = [j for j in (c.jobs.get(i) for i in c.jobs.unfinished()) if j is not None]
        for j in left:
            if j.kind == "extraction":
                c.queue.submit(j.id, j.kind) if c.queue.distributed else c.extract_jobs.run(j.id)
        ran = [_run_job(c, j, None) for j in left if j.kind == "summaries"]
        if ran:
            console.print(f"resumed {len(ran)} interrupted batch(es)")
        job = c.batches.create(
            since=dt.date.fromisoformat(since) if since else None,
            ids=[i.strip() for i in ids.split(",") if i.strip()] if ids else None,
            collection=collection,
        )
        if job is None:
            mark = c.jobs.watermark(collection)
            console.print("nothing new to summarise" + (f" since {mark:%Y-%m-%d %H:%M:%S} UTC" if mark else ""))
            return
        final = _run_job(c, job, out_path)
    finally:
        c.close()
    if final.state != "completed":
        raise typer.Exit(1)


@app.command()
def jobs(limit: int = 10) -> None:
    """List recent summary jobs."""
    table = Table("id", "state", "mode", "created", "done", "failed", "total")
    for j in container().jobs.recent(limit):
        table.add_row(
            j.id, j.state, j.mode[:30], f"{j.created_at:%Y-%m-%d %H:%M}", str(j.done), str(j.failed), str(j.total)
        )
    out.print(table)
