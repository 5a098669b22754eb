"""`dossier` command line, one module a command group: documents (ingest, ask, documents, delete), facts (extract,
entities), batches (summarize, jobs), runtime (model, serve, worker, model-server, topology), keys; eval, calibrate,
calibrate-entities and calibrate-claims come from `service.evaluation`. Coded errors print their code and exit 2."""

from __future__ import annotations

import logging
import sys

from service.cli import batches, documents, facts, keys, runtime
from service.cli.app import app, console
from service.domain.errors import DossierError
from service.evaluation.calibrate import calibrate_command
from service.evaluation.command import eval_command
from service.evaluation.disagreements import calibrate_claims_command
from service.evaluation.entities import calibrate_entities_command

app.command("eval")(eval_command)
app.command("calibrate")(calibrate_command)
app.command("calibrate-entities")(calibrate_entities_command)
app.command("calibrate-claims")(calibrate_claims_command)
COMMAND_GROUPS = (documents, facts, batches, runtime, keys)  # imported for their commands

__all__ = ["app", "main"]


def main() -> None:
    """The `dossier` entry point: a coded error prints its code and message and exits 2."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        app()
    except DossierError as exc:
        console.print(f"[red]error ({exc.code}):[/red] {exc.message}")
        sys.exit(2)
