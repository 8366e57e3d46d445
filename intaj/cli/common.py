"""What every command module of the CLI shares: the options, JSON output, and the one error
handler (an :class:`IntajError` from any command prints ``error: <message>`` and exits 2)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from core.errors import IntajError

ChatbotOpt = Annotated[str, typer.Option("--chatbot", "-c", help="Chatbot name (or id).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]


def emit(data: Any) -> None:
    typer.echo(json.dumps(data, ensure_ascii=False, indent=2, default=str))


def rebuilt_source_reporter(as_json: bool) -> Callable[[dict[str, Any]], None]:
    """What a re-embedding (``intaj reembed``, ``intaj chatbot set``) prints on stderr as each
    source finishes; nothing with ``--json``, whose reply carries the rows."""

    def report(row: dict[str, Any]) -> None:
        if as_json:
            return
        detail = (
            f"{row['chunks']} chunks ({row['embedded']} embedded, {row['reused']} reused)"
            if row["status"] == "ready"
            else row["error"]
        )
        typer.echo(f"{row['status']:<7} {row['source']}: {detail}", err=True)

    return report


def fail(message: str, code: int) -> typer.Exit:
    """Print ``error: message`` (red, on stderr) and return the exit to raise."""
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    return typer.Exit(code)


class Handled(TyperGroup):
    """The root command group: turns an :class:`IntajError` raised by any command (of any
    sub-group) into its message and exit code 2; other errors go on to :func:`intaj.cli.main`."""

    def invoke(self, ctx: Any) -> Any:  # a typer.Context
        try:
            return super().invoke(ctx)
        except IntajError as e:
            raise fail(e.message, 2) from e


def group(help: str) -> typer.Typer:
    """A command group (``intaj source ...``)."""
    return typer.Typer(help=help, no_args_is_help=True)
