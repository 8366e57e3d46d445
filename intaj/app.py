"""The composition root's services: what a CLI command or an HTTP route does, wired from
settings to the pool, the pipeline, the flows and retrieval. No pipeline or retrieval logic."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from psycopg_pool import ConnectionPool

from core.errors import NotFoundError
from core.settings import Settings, get_settings
from db import chatbots as chatbots_db
from db import open_pool
from db import runs as runs_db
from db import sources as sources_db
from db.chatbots import Chatbot
from db.sources import DataSource
from pipeline import identity
from pipeline.sources import storage_for, upload_key

TYPES_BY_SUFFIX = {
    ".pdf": "pdf",
    ".docx": "docx",
    ".html": "html",
    ".htm": "html",
    ".txt": "txt",
    ".md": "md",
    ".markdown": "md",
}


@dataclass(frozen=True)
class Context:
    settings: Settings
    pool: ConnectionPool


def context() -> Context:
    settings = get_settings()
    return Context(settings, open_pool(settings))


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
        return chatbots_db.get_or_create(
            conn, user_id=owner, name=ref, language=ctx.settings.default_language
        )


def is_url(ref: str) -> bool:
    return ref.startswith(("http://", "https://"))


@dataclass(frozen=True)
class Registration:
    ref: str
    source: DataSource | None
    error: str | None = None
    unchanged: bool = False  # the same bytes are already ingested: nothing to run


def register(ctx: Context, bot: Chatbot, ref: str, *, crawl: bool | None = None) -> Registration:
    """Make ``ref`` (a local file or a URL) a data source of ``bot``. A file is copied into
    storage under a server-made key; registering the same file again updates its bytes in place
    instead of adding a second source. ``crawl`` (URLs): crawl the site from ``ref``; None keeps
    the source's choice (a new source: INTAJ_URL_CRAWL)."""
    if is_url(ref):
        with ctx.pool.connection() as conn:
            existing = sources_db.find_by_origin(conn, chatbot_id=bot.id, origin=ref)
            if existing is not None and crawl is not None and existing.crawl != crawl:
                sources_db.set_crawl(conn, source_id=existing.id, crawl=crawl)
                existing = sources_db.get(conn, source_id=existing.id)
            source = existing or sources_db.add(
                conn, chatbot_id=bot.id, type="url", path=ref, name=ref, origin=ref, crawl=crawl
            )
        return Registration(ref, source)
    path = Path(ref).expanduser()
    if not path.is_file():
        return Registration(ref, None, f"{ref}: no such file")
    size, limit = path.stat().st_size, ctx.settings.max_file_bytes
    if size > limit:  # refused before a byte is read or stored (D4)
        return Registration(
            ref, None, f"{ref} is {size} bytes, over the limit of {limit} (INTAJ_MAX_FILE_BYTES)"
        )
    origin = str(path.resolve())
    data = path.read_bytes()
    with ctx.pool.connection() as conn:
        existing = sources_db.find_by_origin(conn, chatbot_id=bot.id, origin=origin)
    if existing is not None and existing.status == "ready" and _unchanged(ctx, bot, existing, data):
        return Registration(ref, existing, unchanged=True)
    with ctx.pool.connection() as conn:
        key = existing.path if existing else upload_key(bot.id, path.name)
        storage_for(key, ctx.settings).write(key, data)
        source = existing or sources_db.add(
            conn,
            chatbot_id=bot.id,
            type=TYPES_BY_SUFFIX.get(path.suffix.lower(), "file"),
            path=key,
            name=path.name,
            origin=origin,
        )
        if existing:
            sources_db.mark_pending(conn, source_id=existing.id)
    return Registration(ref, source)


def _unchanged(ctx: Context, bot: Chatbot, source: DataSource, data: bytes) -> bool:
    print_ = identity.fingerprint(
        data,
        max_tokens=ctx.settings.chunk_tokens,
        overlap_tokens=ctx.settings.chunk_overlap_tokens,
    )
    model = bot.embedding_model or ctx.settings.embedding_model
    return identity.is_unchanged(ctx.pool, source, fingerprint=print_, model=model)


def ingest(ctx: Context, bot: Chatbot, registrations: list[Registration]) -> list[dict[str, Any]]:
    """Ingest the registered sources: those whose bytes are already ingested are reported as
    reused without starting a flow (a skipped run is recorded); the rest run through the
    ``ingest-chatbot`` flow. One result per distinct source, in order."""
    sources = {r.source.id: r for r in registrations if r.source is not None}
    changed = [i for i, r in sources.items() if not r.unchanged]
    ran: dict[str, dict[str, Any]] = {}
    if changed:  # Prefect is imported (and its server started) only when there is work
        temporary_server = _warm_up(ctx, bot)
        from flows.ingest import ingest_chatbot
        from flows.startup import flow_settings

        with flow_settings(temporary_server):
            ran = dict(zip(changed, ingest_chatbot(bot.id, source_ids=changed), strict=True))
    skipped = [(i, r.source.chunk_count) for i, r in sources.items() if i not in ran and r.source]
    with ctx.pool.connection() as conn:
        runs_db.record_skipped(conn, chatbot_id=bot.id, sources=skipped)
    results = []
    for source_id, reg in sources.items():
        if source_id in ran:
            results.append(ran[source_id])
            continue
        assert reg.source is not None
        n = reg.source.chunk_count
        results.append(
            {"source": reg.source.path, "status": "ready", "chunks": n, "embedded": 0,
             "reused": n, "error": None}
        )  # fmt: skip
    return results


def _warm_up(ctx: Context, bot: Chatbot) -> bool:
    """Prefect's temporary server and, meanwhile, what the flow's first source would otherwise
    wait for: the chatbot's embedding model and the parse sandbox's fork server (and, in
    ``flows/startup.py``, the flow engine's modules). Returns whether the server is a temporary
    one."""
    from flows.startup import warm_up
    from pipeline.embed import get_embedder

    model = bot.embedding_model or ctx.settings.embedding_model

    def meanwhile() -> None:
        announce_build(ctx.settings, model)
        get_embedder(ctx.settings, model)
        if ctx.settings.parse_sandbox:
            from pipeline.parse import sandbox

            sandbox.warm_up()

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


def prepare(ctx: Context, report: Callable[[str, str, float], None]) -> None:
    """The one-time work of a fresh machine, done now instead of in the first ingest: the
    database (started and migrated by :func:`context`), the default embedding model's runtime
    files (ONNX export and int8 quantization, or the bf16 trace) and Prefect's database, the
    last two side by side.
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
        report("Prefect", *prefect.result())


def examples_dir() -> Path:
    """The sample knowledge of `intaj demo`: package data, so an installed wheel has it too."""
    return Path(__file__).resolve().parent / "examples"
