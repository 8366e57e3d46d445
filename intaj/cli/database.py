"""``intaj db upgrade|url|stop``."""

from __future__ import annotations

import typer

from intaj.cli.common import group

db_app = group("The database: migrations, URL, embedded server.")


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply pending migrations (every command also does this first)."""
    from intaj import records

    applied = records.upgrade()
    names = ", ".join(f"{m.version:04d}_{m.name}" for m in applied) or "nothing to apply"
    typer.echo(f"migrations: {names}")


@db_app.command("url")
def db_url() -> None:
    """Print the database URL (for psql); starts the embedded server if needed."""
    from core.settings import get_settings
    from db.connection import database_url

    typer.echo(database_url(get_settings()))


@db_app.command("stop")
def db_stop() -> None:
    """Stop the embedded server, the embedding service and the flow service (each starts
    again with the next command that needs it)."""
    from core.settings import get_settings
    from db.connection import stop_embedded
    from flows import service as flow_service
    from pipeline.embed import service

    settings = get_settings()
    if flow_service.stop(settings):  # first: its runs in flight finish with the database up
        typer.echo("flow service: stopped")
    if service.stop(settings):
        typer.echo("embedding service: stopped")
    if settings.database_url:
        typer.echo("DATABASE_URL is set: there is no embedded server to stop")
        return
    typer.echo("stopped" if stop_embedded(settings.pgdata) else "not running")
