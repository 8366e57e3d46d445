"""The ``intaj`` command line. The contract (commands, flags, JSON shapes, exit codes) is in
DESIGN.md and docs/cli.md; scripts outside the project rely on it.

One module per command group (``chatbot``, ``ingest``, ``retrieval``, ``faq``, ``database``,
``connection``, ``serve``, ``orchestrate``, ``widget``), registered here in the order
``intaj --help`` lists them. Errors: an ``IntajError`` from any command prints its message and
exits 2 (``common.Handled``); any other exception prints one line and exits 3 (:func:`main`;
the trace with ``-v``)."""

from __future__ import annotations

import gc
import logging
import os
import sys
from collections.abc import Callable
from typing import Annotated

import typer

from intaj.cli import (
    chatbot,
    connection,
    database,
    faq,
    ingest,
    orchestrate,
    retrieval,
    serve,
    widget,
)
from intaj.cli.common import Handled

app = typer.Typer(
    cls=Handled,
    help=(
        "Intaj knowledge pipeline: ingest a chatbot's documents, URLs and FAQs into Postgres +"
        " pgvector, then search and answer from them with citations.\n\n"
        "With no DATABASE_URL, every command uses an embedded PostgreSQL kept under INTAJ_HOME."
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(chatbot.chatbot_app, name="chatbot")
app.add_typer(ingest.source_app, name="source")
app.add_typer(faq.faq_app, name="faq")
app.add_typer(database.db_app, name="db")
app.add_typer(connection.connection_app, name="connection")
COMMANDS: dict[str, Callable[..., None]] = {
    "ingest": ingest.ingest,
    "search": retrieval.search,
    "ask": retrieval.ask,
    "eval": retrieval.eval_,
    "reembed": ingest.reembed,
    "prepare": ingest.prepare,
    "serve": serve.serve,
    "demo": serve.demo,
    "listen": orchestrate.listen,
    "serve-flows": orchestrate.serve_flows,
    "sweep": orchestrate.sweep,
}
for name, command in COMMANDS.items():
    app.command(name)(command)
app.add_typer(widget.widget_app, name="widget")


@app.callback()
def _root(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show Prefect's logs.")] = False,
) -> None:
    from flows.startup import configure_environment

    configure_environment()
    if verbose:
        os.environ["PREFECT_LOGGING_LEVEL"] = "INFO"
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING)


def main() -> None:
    try:
        app()
    except Exception as e:  # the last line of defence: a clear message, the trace on -v
        if "-v" in sys.argv or "--verbose" in sys.argv:
            raise
        typer.secho(f"error: {type(e).__name__}: {e}", fg=typer.colors.RED, err=True)
        typer.secho("(run again with -v for the full traceback)", err=True)
        sys.exit(3)
    finally:
        # The command is done: the garbage collections of the interpreter's exit need not walk
        # what it loaded (with torch imported, 0.3 s of every exit; 0.1 s frozen).
        gc.freeze()
