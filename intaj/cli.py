"""The ``intaj`` command line. The contract (commands, flags, JSON shapes, exit codes) is in
DESIGN.md and docs/cli.md; scripts outside the project rely on it."""

from __future__ import annotations

import gc
import json
import logging
import os
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

import typer

from core.errors import IntajError

# Prefect's INFO chatter would drown the CLI's own output; --verbose brings it back.
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
# The ephemeral Prefect server migrates its SQLite database on first start: give it time.
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
if "PREFECT_API_URL" not in os.environ and "PREFECT_HOME" not in os.environ:
    # Ephemeral mode: keep Prefect's state beside ours, one SQLite file per INTAJ_HOME.
    _home = os.environ.get("INTAJ_HOME") or os.path.expanduser("~/.local/share/intaj")
    os.environ["PREFECT_HOME"] = os.path.join(_home, "prefect")

app = typer.Typer(
    help=(
        "Intaj knowledge pipeline: ingest a chatbot's documents, URLs and FAQs into Postgres +"
        " pgvector, then search and answer from them with citations.\n\n"
        "With no DATABASE_URL, every command uses an embedded PostgreSQL kept under INTAJ_HOME."
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
source_app = typer.Typer(help="Register and list data sources.", no_args_is_help=True)
faq_app = typer.Typer(
    help="Manage a chatbot's FAQs (embedded into the same index).", no_args_is_help=True
)
db_app = typer.Typer(help="The database: migrations, URL, embedded server.", no_args_is_help=True)
app.add_typer(source_app, name="source")
app.add_typer(faq_app, name="faq")
app.add_typer(db_app, name="db")
connection_app = typer.Typer(
    help="A chatbot's connections to outside platforms; credentials are encrypted at rest.",
    no_args_is_help=True,
)
app.add_typer(connection_app, name="connection")

ChatbotOpt = Annotated[str, typer.Option("--chatbot", "-c", help="Chatbot name (or id).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]


def _emit(data: Any) -> None:
    typer.echo(json.dumps(data, ensure_ascii=False, indent=2, default=str))


def _fail(error: IntajError) -> None:
    typer.secho(f"error: {error.message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(2)


def _ctx() -> Any:
    from intaj import app as services

    return services.context()


@app.callback()
def _root(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show Prefect's logs.")] = False,
) -> None:
    if verbose:
        os.environ["PREFECT_LOGGING_LEVEL"] = "INFO"
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING)


# --- ingestion -----------------------------------------------------------------------------


@app.command()
def ingest(
    paths: Annotated[list[str], typer.Argument(help="Files or http(s) URLs.")],
    chatbot: ChatbotOpt,
    as_json: JsonOpt = False,
    crawl: Annotated[
        bool | None,
        typer.Option(
            "--crawl/--no-crawl",
            help="URLs: also ingest the same-site pages they link to, each cited by its own URL"
            " (default: the source's earlier choice, else INTAJ_URL_CRAWL).",
        ),
    ] = None,
) -> None:
    """Register PATHS/URLs as data sources of CHATBOT (created if new) and ingest them.

    Exit code 0 when every source is ready, 1 when any failed. Unchanged files are not
    re-embedded; a failed source keeps its previous chunks."""
    from intaj import app as services
    from intaj.progress import IngestProgress

    try:
        ctx = services.context()
        bot = services.chatbot(ctx, chatbot, create=True)
        registrations = [services.register(ctx, bot, p, crawl=crawl) for p in paths]
        ids = list(dict.fromkeys(r.source.id for r in registrations if r.source is not None))
        to_run = {r.source.id for r in registrations if r.source is not None and not r.unchanged}
        with IngestProgress(enabled=not as_json and sys.stderr.isatty(), total=len(to_run)):
            results = services.ingest(ctx, bot, registrations)
    except IntajError as e:
        _fail(e)
    by_id = dict(zip(ids, results, strict=True))
    results = [
        by_id[r.source.id]
        if r.source is not None
        else {"source": r.ref, "status": "failed", "chunks": 0, "embedded": 0, "reused": 0,
              "error": r.error}
        for r in registrations
    ]  # fmt: skip
    if as_json:
        _emit({"chatbot": bot.id, "sources": results})
    else:
        for r in results:
            if r["status"] == "ready":
                typer.echo(
                    f"ready   {r['source']}: {r['chunks']} chunks"
                    f" ({r['embedded']} embedded, {r['reused']} reused)"
                )
            else:
                typer.secho(f"failed  {r['source']}: {r['error']}", fg=typer.colors.RED)
    raise typer.Exit(0 if all(r["status"] == "ready" for r in results) else 1)


@source_app.command("add")
def source_add(
    path: Annotated[str, typer.Argument(help="A file or an http(s) URL.")],
    chatbot: ChatbotOpt,
    as_json: JsonOpt = False,
) -> None:
    """Only register PATH as a pending data source (the upload trigger, `intaj listen`,
    ingests it)."""
    from intaj import app as services

    try:
        ctx = services.context()
        bot = services.chatbot(ctx, chatbot, create=True)
        reg = services.register(ctx, bot, path)
    except IntajError as e:
        _fail(e)
    if reg.source is None:
        typer.secho(f"error: {reg.error}", fg=typer.colors.RED, err=True)
        raise typer.Exit(1)
    if as_json:
        _emit({"id": reg.source.id, "path": reg.source.path, "status": "pending"})
    else:
        typer.echo(f"registered {reg.source.id} ({reg.source.path}), pending")


@source_app.command("list")
def source_list(chatbot: ChatbotOpt, as_json: JsonOpt = False) -> None:
    """Show CHATBOT's data sources and their ingestion state."""
    from db import sources as sources_db
    from intaj import app as services

    try:
        ctx = services.context()
        bot = services.chatbot(ctx, chatbot)
        with ctx.pool.connection() as conn:
            rows = sources_db.list_for(conn, chatbot_id=bot.id)
    except IntajError as e:
        _fail(e)
    if as_json:
        _emit([
            {"id": s.id, "type": s.type, "path": s.path, "name": s.name, "status": s.status,
             "chunks": s.chunk_count, "error": s.error, "last_ingested_at": s.last_ingested_at}
            for s in rows
        ])  # fmt: skip
        return
    for s in rows:
        line = f"{s.status:<10} {s.chunk_count:>5} chunks  {s.type:<5} {s.name or s.path}  {s.id}"
        typer.echo(line + (f"\n           error: {s.error}" if s.error else ""))


# --- retrieval -----------------------------------------------------------------------------


@app.command()
def search(
    query: Annotated[str, typer.Argument(help="What to look for.")],
    chatbot: ChatbotOpt,
    k: Annotated[int, typer.Option("-k", help="How many hits.", min=1, max=100)] = 5,
    mode: Annotated[str, typer.Option(help="hybrid (vector + full text) or vector.")] = "hybrid",
    as_json: JsonOpt = False,
) -> None:
    """Search CHATBOT's documents and FAQs; best hits first."""
    from intaj import app as services
    from retrieval.search import search as run_search

    if mode not in ("hybrid", "vector"):
        raise typer.BadParameter("choose hybrid or vector", param_hint="--mode")
    try:
        ctx = services.context()
        bot = services.chatbot(ctx, chatbot)
        hits = run_search(ctx.pool, ctx.settings, chatbot_id=bot.id, query=query, k=k, mode=mode)  # type: ignore[arg-type]
    except IntajError as e:
        _fail(e)
    if as_json:
        _emit([{"content": h.content, "score": round(h.score, 4), "source": h.source,
                "metadata": h.metadata} for h in hits])  # fmt: skip
        return
    for n, h in enumerate(hits, 1):
        where = ", ".join(f"{k}: {v}" for k, v in h.metadata.items() if k in ("page", "headings"))
        typer.secho(f"[{n}] {h.score:.3f}  {h.source}  {where}", bold=True)
        typer.echo("    " + " ".join(h.content.split())[:300])


@app.command()
def ask(
    message: Annotated[str, typer.Argument(help="The visitor's message.")],
    chatbot: ChatbotOpt,
    conversation: Annotated[
        str | None, typer.Option(help="Conversation id, to continue one.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Answer MESSAGE from CHATBOT's knowledge with citations, and record the turn."""
    from intaj import app as services
    from retrieval.answer import answer

    try:
        ctx = services.context()
        bot = services.chatbot(ctx, chatbot)
        result = answer(
            ctx.pool, ctx.settings, chatbot_id=bot.id, message=message, conversation_id=conversation
        )
    except IntajError as e:
        _fail(e)
    if as_json:
        _emit({
            "answer": result.answer,
            "citations": [{"source": c.source, "metadata": c.metadata, "snippet": c.snippet}
                          for c in result.citations],
            "confidence": result.confidence,
            "abstained": result.abstained,
            "conversation_id": result.conversation_id,
        })  # fmt: skip
        return
    typer.echo(result.answer)
    for c in result.citations:
        where = f", page {c.metadata['page']}" if "page" in c.metadata else ""
        if c.metadata.get("headings"):
            where += ", " + " > ".join(c.metadata["headings"])
        typer.secho(f"  [{c.number}] {c.source}{where}", fg=typer.colors.CYAN)
    typer.echo(f"confidence {result.confidence:.2f}" + (" (abstained)" if result.abstained else ""))


@app.command("eval")
def eval_(
    chatbot: ChatbotOpt,
    questions: Annotated[
        Path | None,
        typer.Option(
            help='JSONL, one {"question", "answer", "source"} a line (answer null: should'
            " abstain). Default: the chatbot's FAQs."
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Evaluate CHATBOT's retrieval: recall@1/@5 and MRR@10 of the passage holding each
    answer (its documents searched, FAQs left out), and how often `ask` would abstain."""
    from intaj import app as services
    from retrieval import evaluate

    try:
        ctx = services.context()
        bot = services.chatbot(ctx, chatbot)
        asked = evaluate.read_questions(questions) if questions else None
        report = evaluate.evaluate(ctx.pool, ctx.settings, chatbot_id=bot.id, questions=asked)
    except IntajError as e:
        _fail(e)
    if as_json:
        _emit(report.as_dict())
    else:
        typer.echo(report.table())


@app.command()
def reembed(
    chatbot: ChatbotOpt,
    model: Annotated[
        str,
        typer.Option(
            help="The new embedding model, e.g. text-embedding-3-small@384 (name@dimensions)."
        ),
    ],
    drop_old: Annotated[
        bool,
        typer.Option("--drop-old", help="Delete the previous model's chunks after the switch."),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Embed CHATBOT's sources and FAQs with MODEL beside the current vectors, then switch the
    chatbot to MODEL in one step.

    Searches use the previous model until every source is done; a failure leaves the chatbot on
    it (exit code 1), and running again reuses the vectors already built."""
    from intaj import app as services
    from pipeline.reembed import reembed as run_reembed

    def report(row: dict[str, Any]) -> None:
        if not as_json:
            detail = (
                f"{row['chunks']} chunks ({row['embedded']} embedded, {row['reused']} reused)"
                if row["status"] == "ready"
                else row["error"]
            )
            typer.echo(f"{row['status']:<7} {row['source']}: {detail}", err=True)

    try:
        ctx = services.context()
        bot = services.chatbot(ctx, chatbot)
        summary = run_reembed(
            ctx.pool, ctx.settings, bot.id, model, drop_old=drop_old, progress=report
        )
    except IntajError as e:
        _fail(e)
    if as_json:
        _emit(summary.as_json())
    elif summary.switched:
        typer.echo(
            f"{bot.name} now searches {summary.model} (was {summary.previous}):"
            f" {summary.embedded} embedded, {summary.reused} reused"
            + (f", {summary.dropped} old chunks dropped" if drop_old else "")
        )
    else:
        typer.secho(f"error: {summary.error}", fg=typer.colors.RED, err=True)
    raise typer.Exit(0 if summary.switched else 1)


# --- FAQs ----------------------------------------------------------------------------------


def _sync_faqs(ctx: Any, bot: Any) -> Any:
    from pipeline.embed import get_embedder
    from pipeline.faqs import sync

    model = bot.embedding_model or ctx.settings.embedding_model
    return sync(ctx.pool, get_embedder(ctx.settings, model), chatbot_id=bot.id)


@faq_app.command("add")
def faq_add(
    chatbot: ChatbotOpt,
    question: Annotated[str, typer.Option(help="The question, as visitors ask it.")],
    answer: Annotated[str, typer.Option(help="The answer to give.")],
) -> None:
    """Add an FAQ (or replace the answer of the same question) and embed it."""
    from db import faqs as faqs_db
    from intaj import app as services

    try:
        ctx = services.context()
        bot = services.chatbot(ctx, chatbot, create=True)
        with ctx.pool.connection() as conn:
            faq = faqs_db.add(conn, chatbot_id=bot.id, question=question, answer=answer)
        synced = _sync_faqs(ctx, bot)
    except IntajError as e:
        _fail(e)
    typer.echo(f"faq {faq.id} saved ({synced.embedded} embedded)")


@faq_app.command("import")
def faq_import(
    file: Annotated[Path, typer.Argument(help="CSV with a header row: question,answer.")],
    chatbot: ChatbotOpt,
) -> None:
    """Import FAQs from a CSV file and embed the new or changed ones."""
    from db import faqs as faqs_db
    from intaj import app as services
    from pipeline.faqs import read_csv

    try:
        pairs = read_csv(file.read_text(encoding="utf-8-sig"))
        ctx = services.context()
        bot = services.chatbot(ctx, chatbot, create=True)
        with ctx.pool.connection() as conn:
            for q, a in pairs:
                faqs_db.add(conn, chatbot_id=bot.id, question=q, answer=a)
        synced = _sync_faqs(ctx, bot)
    except IntajError as e:
        _fail(e)
    except OSError as e:
        typer.secho(f"error: cannot read {file}: {e.strerror}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from e
    typer.echo(
        f"imported {len(pairs)} FAQs into {bot.name}: {synced.written} written,"
        f" {synced.embedded} embedded, {synced.reused} reused"
    )


@faq_app.command("list")
def faq_list(chatbot: ChatbotOpt, as_json: JsonOpt = False) -> None:
    """List CHATBOT's FAQs."""
    from db import faqs as faqs_db
    from intaj import app as services

    try:
        ctx = services.context()
        bot = services.chatbot(ctx, chatbot)
        with ctx.pool.connection() as conn:
            faqs = faqs_db.list_for(conn, chatbot_id=bot.id)
    except IntajError as e:
        _fail(e)
    if as_json:
        _emit([asdict(f) for f in faqs])
        return
    for f in faqs:
        typer.echo(f"{f.id}  Q: {f.question}\n{' ' * 38}A: {f.answer}")


@faq_app.command("delete")
def faq_delete(faq_id: Annotated[str, typer.Argument(help="The FAQ's id.")]) -> None:
    """Delete an FAQ; its chunk goes with it."""
    from db import faqs as faqs_db
    from intaj import app as services

    try:
        ctx = services.context()
        with ctx.pool.connection() as conn:
            gone = faqs_db.delete(conn, faq_id=faq_id)
    except IntajError as e:
        _fail(e)
    if not gone:
        typer.secho(f"error: no FAQ {faq_id}", fg=typer.colors.RED, err=True)
        raise typer.Exit(1)
    typer.echo(f"deleted faq {faq_id}")


@app.command()
def prepare() -> None:
    """Do a fresh machine's one-time work now, so the first ingest does not: start the
    database and apply migrations, build the embedding model's runtime file (its ONNX export,
    or its bf16 TorchScript trace on a CPU with AMX: a few seconds) and create Prefect's
    database. Safe to rerun."""
    import time

    from intaj import app as services

    start = time.perf_counter()
    try:
        ctx = services.context()
        typer.echo(f"==> database: ready ({time.perf_counter() - start:.1f} s)")
        services.prepare(
            ctx, lambda step, what, seconds: typer.echo(f"==> {step}: {what} ({seconds:.1f} s)")
        )
    except IntajError as e:
        _fail(e)


# --- database ------------------------------------------------------------------------------


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply pending migrations (every command also does this first)."""
    from core.settings import get_settings
    from db import migrate
    from db.connection import connect, database_url

    try:
        with connect(database_url(get_settings()), autocommit=True) as conn:
            applied = migrate.upgrade(conn)
    except IntajError as e:
        _fail(e)
    names = ", ".join(f"{m.version:04d}_{m.name}" for m in applied) or "nothing to apply"
    typer.echo(f"migrations: {names}")


@db_app.command("url")
def db_url() -> None:
    """Print the database URL (for psql); starts the embedded server if needed."""
    from core.settings import get_settings
    from db.connection import database_url

    try:
        typer.echo(database_url(get_settings()))
    except IntajError as e:
        _fail(e)


@db_app.command("stop")
def db_stop() -> None:
    """Stop the embedded server (it starts again with the next command)."""
    from core.settings import get_settings
    from db.connection import stop_embedded

    settings = get_settings()
    if settings.database_url:
        typer.echo("DATABASE_URL is set: there is no embedded server to stop")
        return
    typer.echo("stopped" if stop_embedded(settings.pgdata) else "not running")


# --- connections ---------------------------------------------------------------------------


def _credential_pairs(pairs: list[str]) -> dict[str, str]:
    """KEY=VALUE pairs; a value written env:NAME is read from that environment variable (so
    the secret stays out of shell history)."""
    found: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"{pair!r} is not KEY=VALUE", param_hint="--set")
        if value.startswith("env:"):
            if value[4:] not in os.environ:
                raise typer.BadParameter(f"environment variable {value[4:]} is not set")
            value = os.environ[value[4:]]
        found[key] = value
    return found


@connection_app.command("add")
def connection_add(
    chatbot: ChatbotOpt,
    platform: Annotated[str, typer.Option(help="e.g. openai, website, whatsapp.")],
    values: Annotated[
        list[str],
        typer.Option("--set", help="A credential as KEY=VALUE, or KEY=env:VARIABLE; repeatable."),
    ],
) -> None:
    """Store a connection's credentials, encrypted (AES-256-GCM, bound to the row)."""
    from core.crypto import keyring_for
    from db import connections as connections_db
    from intaj import app as services

    try:
        creds = _credential_pairs(values)
        ctx = services.context()
        bot = services.chatbot(ctx, chatbot)
        with ctx.pool.connection() as conn:
            connection_id = connections_db.add(
                conn, user_id=bot.user_id, chatbot_id=bot.id, platform=platform,
                credentials=creds, keyring=keyring_for(ctx.settings),
            )  # fmt: skip
    except IntajError as e:
        _fail(e)
    typer.echo(f"connection {connection_id} saved ({', '.join(sorted(creds))} encrypted)")


@connection_app.command("list")
def connection_list(
    chatbot: Annotated[
        str | None, typer.Option("--chatbot", "-c", help="Only this chatbot.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """List connections with their credentials masked."""
    from core.crypto import keyring_for
    from db import connections as connections_db
    from intaj import app as services

    try:
        ctx = services.context()
        bot_id = services.chatbot(ctx, chatbot).id if chatbot else None
        with ctx.pool.connection() as conn:
            rows = connections_db.list_masked(
                conn, keyring=keyring_for(ctx.settings), chatbot_id=bot_id
            )
    except IntajError as e:
        _fail(e)
    if as_json:
        _emit(rows)
        return
    for r in rows:
        shown = ", ".join(f"{k}={v}" for k, v in r["credentials"].items())
        typer.echo(
            f"{r['id']}  {r['platform']:<10} {'active' if r['active'] else 'inactive'}  {shown}"
        )


@connection_app.command("new-key")
def connection_new_key() -> None:
    """Print a fresh credentials key (for INTAJ_CREDENTIALS_KEY)."""
    from core.crypto import new_key

    typer.echo(new_key())


@connection_app.command("rotate-key")
def connection_rotate_key() -> None:
    """Re-encrypt every connection with INTAJ_CREDENTIALS_KEY. Put the previous key in
    INTAJ_CREDENTIALS_OLD_KEYS first; remove it once this has run."""
    from core.crypto import keyring_for
    from db import connections as connections_db
    from intaj import app as services

    try:
        ctx = services.context()
        with ctx.pool.connection() as conn:
            count = connections_db.rotate(conn, keyring=keyring_for(ctx.settings))
    except IntajError as e:
        _fail(e)
    typer.echo(f"re-encrypted {count} connections with the current key")


# --- HTTP API ------------------------------------------------------------------------------


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.", min=1, max=65535)] = 8000,
    open_browser: Annotated[
        bool, typer.Option("--open", help="Open the playground in a web browser.")
    ] = False,
    chatbot: Annotated[
        str | None, typer.Option(help="The chatbot (id) the playground shows first.")
    ] = None,
) -> None:
    """Run the HTTP API for the chatbot runtime (routes, auth and limits: docs/api.md), the
    playground at /playground and the website widget (docs/web.md)."""
    import threading
    import webbrowser

    import uvicorn

    from core.settings import get_settings
    from intaj.http import create_app
    from intaj.web.launch import playground_url, with_session_key

    settings, key = with_session_key(get_settings())
    if key:
        typer.secho(
            "none of INTAJ_SUPABASE_URL, INTAJ_JWT_SECRET, INTAJ_SERVICE_API_KEYS is set: the"
            " API accepts only this run's one-off key, in the playground link below",
            fg=typer.colors.YELLOW,
            err=True,
        )
    try:
        api = create_app(settings)
    except IntajError as e:
        _fail(e)
    url = playground_url(host, port, key=key, chatbot=chatbot)
    typer.secho(f"Playground: {url}", bold=True)
    if open_browser:
        threading.Timer(1.5, webbrowser.open, args=(url,)).start()
    uvicorn.run(api, host=host, port=port, log_level="info", server_header=False)


# --- demo ----------------------------------------------------------------------------------

DEMO_QUESTION_FILE = "demo-question.txt"


@app.command()
def demo(
    chatbot: Annotated[str, typer.Option("--chatbot", "-c", help="Chatbot name.")] = "demo",
    question: Annotated[str | None, typer.Option(help="The question to ask.")] = None,
    open_browser: Annotated[
        bool, typer.Option("--open", help="Then serve the playground and open it in a browser.")
    ] = False,
) -> None:
    """Ingest the sample documents and FAQs (intaj/examples/) and answer a question about them."""
    from intaj import app as services

    folder = services.examples_dir()
    docs = sorted(
        str(p) for p in folder.iterdir() if p.suffix.lower() in (".pdf", ".docx", ".html", ".md")
        and p.name.lower() != "readme.md"
    )  # fmt: skip
    typer.secho(f"Ingesting {len(docs)} sample documents from {folder} ...", bold=True)
    try:
        ingest(docs, chatbot=chatbot, as_json=False)
    except typer.Exit as e:
        if e.exit_code:
            raise
    faqs = folder / "faqs.csv"
    if faqs.exists():
        faq_import(faqs, chatbot=chatbot)
    asked = question or (folder / DEMO_QUESTION_FILE).read_text(encoding="utf-8").strip()
    typer.secho(f"\nQ: {asked}", bold=True)
    ask(asked, chatbot=chatbot, conversation=None, as_json=False)
    if open_browser:
        serve(open_browser=True, chatbot=services.chatbot(services.context(), chatbot).id)


def _register_orchestration() -> None:
    from intaj import orchestrate, widget_cli  # listen, serve-flows, sweep

    orchestrate.register(app)
    widget_cli.register(app)  # widget add, widget list


_register_orchestration()


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


if __name__ == "__main__":
    main()
