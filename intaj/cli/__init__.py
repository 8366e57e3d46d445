"""The ``intaj`` command line. The contract (commands, flags, JSON shapes, exit codes) is in
DESIGN.md and docs/cli.md; scripts outside the project rely on it.

One module per command group (``chatbot``, ``ingest``, ``retrieval``, ``faq``, ``database``,
``connection``, ``serve``, ``orchestrate``, ``usage``, ``widget``), registered here in the order
``intaj --help`` lists them. Errors: an ``IntajError`` from any command prints its message and
exits 2 (``common.Handled``); any other exception prints one line and exits 3 (:func:`main`;
the trace with ``-v``)."""

from __future__ import annotations

import gc
import logging
import os
import signal
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
    storage,
    usage,
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
    "usage": usage.usage,
}
for name, command in COMMANDS.items():
    app.command(name)(command)
app.add_typer(widget.widget_app, name="widget")
app.add_typer(storage.storage_app, name="storage")


# Commands that run until stopped: their log is their output (warnings and errors shown).
SERVICES = frozenset({"serve", "listen", "serve-flows"})


@app.callback()
def _root(
    ctx: typer.Context,
    verbose: Annotated[
        bool,
        typer.Option("--verbose", "-v", help="Show logs, Prefect's included, and full tracebacks."),
    ] = False,
) -> None:
    """Without -v, a command that ends prints its own one-line results and errors, no log
    lines or tracebacks (Prefect's console logs off; runs still log to Prefect's server)."""
    from flows.startup import configure_environment

    quiet = not verbose and ctx.invoked_subcommand not in SERVICES
    if ctx.invoked_subcommand in ("serve-flows", "listen"):  # they run flows: each run's INFO
        os.environ.setdefault("PREFECT_LOGGING_LEVEL", "INFO")  # logs (its stages) in the UI
    if quiet and "PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL" not in os.environ:
        os.environ["PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL"] = "CRITICAL"
        # read when Prefect is imported; not left to a process that runs commands in-process
        ctx.call_on_close(lambda: os.environ.pop("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", None))
    configure_environment()
    if verbose:
        os.environ["PREFECT_LOGGING_LEVEL"] = "INFO"
    if not logging.getLogger().handlers:  # (a host process's logging is left as it is)
        console = logging.StreamHandler()
        # quiet: loggers keep their levels (Prefect's API log handler still gets its records)
        console.setLevel(logging.CRITICAL if quiet else logging.NOTSET)
        logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, handlers=[console])


def _terminated(signum: int, frame: object) -> None:
    """SIGTERM: stop what this command started (Prefect's temporary server) and exit at once
    (143). Its unfinished runs are closed by the next command (pipeline/run/orphans.py)."""
    servers = sys.modules.get("flows.temporary_server")
    if servers is not None:
        servers.stop_all()
    typer.echo("terminated: unfinished sources are marked failed by the next command", err=True)
    os._exit(128 + signum)


def main() -> None:
    signal.signal(signal.SIGTERM, _terminated)  # `serve` and `listen` install their own
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
