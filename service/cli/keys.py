"""`dossier keys create | list | revoke`."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from service.cli.app import app, console, container, out
from service.domain.access import Role

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
    key, token = container().access.create(role, collection or None, name)
    console.print(
        f"created {key.id} ({key.role}, collections: {', '.join(key.collections or ['all'])}); "
        "the token is shown only now:"
    )
    out.print(token, soft_wrap=True)


@keys.command("list")
def keys_list(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """List keys (never their tokens)."""
    listed = container().access.list()
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
    if not container().access.revoke(key_id):
        console.print(f"[red]no active key {key_id!r}[/red]")
        raise typer.Exit(1)
    console.print(f"revoked {key_id}")
