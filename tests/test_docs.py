"""The commands the README and docs/ show are commands this commit has: every `make` target exists, every
`dossier` command and option parses, every `curl` names a route and method of the API, every linked file exists.
So the docs cannot drift from the code unnoticed."""

from __future__ import annotations

import re
import shlex
from typing import Any

import pytest
import typer.main

from service.api.app import create_app
from service.cli import app as cli_app
from tests.conftest import ROOT, make_container, make_settings

DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
_BLOCK = re.compile(r"```(?:bash|sh)\n(.*?)```", re.S)


def _commands() -> list[tuple[str, list[str]]]:
    """(file name, tokens) of every shell command in the docs' bash blocks, continuation lines joined."""
    out = []
    for path in DOCS:
        for block in _BLOCK.findall(path.read_text(encoding="utf-8")):
            pending = ""
            for line in block.replace("\\\n", " ").splitlines():
                pending += line + "\n"
                try:  # a quoted argument may run over several lines
                    tokens = shlex.split(pending, comments=True)
                except ValueError:
                    continue
                pending = ""
                if tokens:
                    out.append((path.name, tokens))
            assert not pending, (path.name, pending)
    return out


COMMANDS = _commands()


def test_the_docs_show_commands_of_every_kind() -> None:
    kinds = {t[0].rsplit("/", 1)[-1] for _, t in COMMANDS}
    assert {"make", "dossier", "curl"} <= kinds, kinds


def test_every_make_target_shown_exists() -> None:
    targets = set(re.findall(r"^([a-z][\w-]*):", (ROOT / "Makefile").read_text(encoding="utf-8"), re.M))
    shown = {(name, t[1]) for name, t in COMMANDS if t[0] == "make"}
    assert shown and all(target in targets for _, target in shown), sorted(
        shown - {(n, x) for n, x in shown if x in targets}
    )


def test_every_dossier_command_and_option_shown_parses() -> None:
    root: Any = typer.main.get_command(cli_app)
    assert root.commands  # a group of commands (typer's own click)
    checked = 0
    for name, tokens in COMMANDS:
        if tokens[0].rsplit("/", 1)[-1] != "dossier":
            continue
        cmd = root
        for t in tokens[1:]:
            if t in getattr(cmd, "commands", {}):
                cmd = cmd.commands[t]
            else:
                break
        assert cmd is not root and not hasattr(cmd, "commands"), (name, tokens)
        options = {o for p in cmd.params for o in p.opts}
        unknown = [t.split("=")[0] for t in tokens if t.startswith("--") and t.split("=")[0] not in options]
        assert not unknown, (name, tokens, unknown)
        checked += 1
    assert checked >= 5


@pytest.fixture(scope="module")
def routes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, set[str]]:
    tmp = tmp_path_factory.mktemp("docs")
    app = create_app(make_settings(tmp), start_llm=False, container=make_container(make_settings(tmp)))
    return {path: {m.upper() for m in ops} for path, ops in app.openapi()["paths"].items()}


def _route_of(url: str, routes: dict[str, set[str]]) -> str | None:
    path = url.split("localhost:8000", 1)[1].split("?", 1)[0] or "/"
    for pattern in routes:
        if re.fullmatch(re.sub(r"\\\{[^}]+\\\}", r"[^/]+", re.escape(pattern)), path):
            return pattern
    return None


def test_every_curl_shown_names_a_route_and_method(routes: dict[str, set[str]]) -> None:
    checked = 0
    for name, tokens in COMMANDS:
        if tokens[0] != "curl":
            continue
        url = next(t for t in tokens if "localhost:8000" in t)
        method = tokens[tokens.index("-X") + 1] if "-X" in tokens else "POST" if {"-d", "-F"} & set(tokens) else "GET"
        route = _route_of(url, routes)
        assert route is not None, (name, url)
        assert method in routes[route], (name, method, route)
        checked += 1
    assert checked >= 10


def test_every_relative_link_in_the_docs_exists() -> None:
    missing = []
    for path in DOCS:
        for target in re.findall(r"\]\(([^)#\s]+)\)", path.read_text(encoding="utf-8")):
            if not re.match(r"[a-z]+:", target) and not (path.parent / target).exists():
                missing.append((path.name, target))
    assert not missing, missing
