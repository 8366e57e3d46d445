"""``intaj ingest``, ``intaj source add|list``, ``intaj reembed`` and ``intaj prepare``."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from intaj.cli.common import ChatbotOpt, JsonOpt, emit, fail, group, rebuilt_source_reporter

source_app = group("Register and list data sources.")


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
    re-embedded; a failed source keeps its previous chunks. A database lost mid-run ends the
    command within about INTAJ_DB_TIMEOUT_SECONDS, still with one result per source
    (docs/operations.md); the next command marks what it left unfinished failed."""
    from core.settings import get_settings
    from flows.startup import launch_early

    launch_early(get_settings())  # a new home: Prefect's server starts first, on its own core
    from intaj import services
    from intaj.progress import IngestProgress

    ctx = services.context()
    bot = services.chatbot(ctx, chatbot, create=True)
    registrations = [services.register(ctx, bot, p, crawl=crawl) for p in paths]
    to_run = {r.source.id for r in registrations if r.source is not None and not r.unchanged}
    with IngestProgress(enabled=not as_json and sys.stderr.isatty(), total=len(to_run)):
        results = services.ingest(ctx, bot, registrations)
    if as_json:
        emit({"chatbot": bot.id, "sources": [r.as_json() for r in results]})
    else:
        for r in results:
            if r.status == "ready":
                typer.echo(
                    f"ready   {r.source}: {r.chunks} chunks"
                    f" ({r.embedded} embedded, {r.reused} reused)"
                )
            else:
                typer.secho(f"failed  {r.source}: {r.error}", fg=typer.colors.RED)
    advice = services.language_advice(ctx, bot) if any(r.embedded for r in results) else None
    if advice:
        typer.secho(f"warning: {advice}", fg=typer.colors.YELLOW, err=True)
    raise typer.Exit(0 if all(r.status == "ready" for r in results) else 1)


@source_app.command("add")
def source_add(
    path: Annotated[str, typer.Argument(help="A file or an http(s) URL.")],
    chatbot: ChatbotOpt,
    as_json: JsonOpt = False,
) -> None:
    """Only register PATH as a pending data source (the upload trigger, `intaj listen`,
    ingests it)."""
    from intaj import services

    ctx = services.context()
    bot = services.chatbot(ctx, chatbot, create=True)
    reg = services.register(ctx, bot, path)
    if reg.source is None:
        raise fail(str(reg.error), 1)
    if as_json:
        emit({"id": reg.source.id, "path": reg.source.path, "status": "pending"})
    else:
        typer.echo(f"registered {reg.source.id} ({reg.source.path}), pending")


@source_app.command("list")
def source_list(chatbot: ChatbotOpt, as_json: JsonOpt = False) -> None:
    """Show CHATBOT's data sources and their ingestion state, with the ids and file names
    the Prefect flows' forms accept (docs/orchestration.md, "For data teams")."""
    from intaj import records, services
    from pipeline.run.refs import label

    ctx = services.context()
    bot = services.chatbot(ctx, chatbot)
    rows = records.sources(ctx, bot)
    if as_json:
        emit([
            {"id": s.id, "type": s.type, "path": s.path, "name": s.name, "status": s.status,
             "chunks": s.chunk_count, "error": s.error, "last_ingested_at": s.last_ingested_at,
             "file": label(s), "error_code": s.error_code, "chatbot_id": bot.id,
             "chatbot": bot.name}
            for s in rows
        ])  # fmt: skip
        return
    typer.echo(f"chatbot {bot.name}  {bot.id}")
    for s in rows:
        line = f"{s.status:<10} {s.chunk_count:>5} chunks  {s.type:<5} {s.name or s.path}  {s.id}"
        typer.echo(line + (f"\n           error: {s.error}" if s.error else ""))


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
    from intaj import services
    from pipeline.reembed import reembed as run_reembed

    report = rebuilt_source_reporter(as_json)
    ctx = services.context()
    bot = services.chatbot(ctx, chatbot)
    summary = run_reembed(ctx.pool, ctx.settings, bot.id, model, drop_old=drop_old, progress=report)
    if as_json:
        emit(summary.as_json())
    elif summary.switched:
        typer.echo(
            f"{bot.name} now searches {summary.model} (was {summary.previous}):"
            f" {summary.embedded} embedded, {summary.reused} reused"
            + (f", {summary.dropped} old chunks dropped" if drop_old else "")
        )
    else:
        typer.secho(f"error: {summary.error}", fg=typer.colors.RED, err=True)
    raise typer.Exit(0 if summary.switched else 1)


def prepare(
    multilingual: Annotated[
        bool,
        typer.Option(
            "--multilingual",
            help="Also prepare the multilingual model of Arabic and multi chatbots (about 15 s,"
            " 700 MB in the model cache).",
        ),
    ] = False,
) -> None:
    """Do a fresh machine's one-time work now, so the first ingest does not: start the
    database and apply migrations, build the embedding model's runtime file (its ONNX export,
    or its bf16 TorchScript trace on a CPU with AMX or AVX512-BF16: a few seconds) and create
    Prefect's database; with the embedded database, also the template a new home's database
    is copied from (instead of initdb). Safe to rerun."""
    import time

    from intaj import services

    start = time.perf_counter()
    template = services.prepare_database_template()
    ctx = services.context()
    kept = f", new homes start from {template}" if template else ""
    typer.echo(f"==> database: ready{kept} ({time.perf_counter() - start:.1f} s)")
    services.prepare(
        ctx,
        lambda step, what, seconds: typer.echo(f"==> {step}: {what} ({seconds:.1f} s)"),
        multilingual=multilingual,
    )
