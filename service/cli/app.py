"""The `dossier` Typer app, its consoles and the container every command builds from one `Settings`."""

from __future__ import annotations

import typer
from rich.console import Console

from service.config import Settings
from service.container import Container

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Dossier: answers for reports, with evidence.")
console = Console(stderr=True)
out = Console()


def container() -> Container:
    """The composition root for one command, from the environment's settings."""
    return Container(Settings())
