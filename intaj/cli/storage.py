"""``intaj storage gc``: the local storage matched to the database."""

from __future__ import annotations

from typing import Annotated

import typer

from intaj.cli.common import JsonOpt, emit, group

storage_app = group("The local storage of uploaded files (INTAJ_STORAGE_ROOT).")


def _size(n: int) -> str:
    """``n`` bytes for people: 512 B, 13.2 MB."""
    value, unit = float(n), "B"
    for bigger in ("kB", "MB", "GB", "TB"):
        if value < 1000:
            break
        value, unit = value / 1000, bigger
    return f"{n} B" if unit == "B" else f"{value:.1f} {unit}"


@storage_app.command("gc")
def gc(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Only list what would be removed.")
    ] = False,
    keep_failed_hours: Annotated[
        float | None,
        typer.Option(
            min=0,
            help="Keep failed sources' files this many hours after they failed"
            " (default: INTAJ_STORAGE_KEEP_FAILED_HOURS, 168).",
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Remove the stored files no data source needs: orphans (no data_sources row names
    them: the source or its chatbot was deleted) and the files of sources failed for longer
    than the retention that hold no chunks. Prints each file and the bytes freed; exit 0.

    Retention: a failed source's file is kept INTAJ_STORAGE_KEEP_FAILED_HOURS after it failed
    (default 168, a week: `retry-failed` re-runs it from that file once the cause is fixed,
    over a weekend or an outage); then it goes, the row stays failed, and a retry asks for the
    file again. A failed source still holding an earlier version's chunks keeps its file
    (still searched; `intaj reembed` rebuilds from it).

    Only the local copies `intaj ingest` and `intaj source add` made (INTAJ_STORAGE_ROOT,
    keys {chatbot}/{uuid}/{name}) are ever removed; s3:// and supabase:// objects are the
    SaaS's uploads and are never deleted. Kept too: files written in the last 10 minutes
    (their rows may not be committed yet), and orphans when the folder was collected against
    another database (.intaj-database in it says which) or row-level security hides rows.
    Nothing runs this by itself: run it from cron, or after deleting sources or chatbots.
    --json: {"storage_root", "dry_run", "keep_failed_hours", "objects": [{"path", "bytes",
    "reason", "source_id"}], "bytes", "kept_recent", "note"}."""
    from intaj import services
    from pipeline.sources.gc import collect

    ctx = services.context()
    done = collect(ctx.pool, ctx.settings, dry_run=dry_run, keep_failed_hours=keep_failed_hours)
    if as_json:
        emit(done.as_json())
        return
    verb = "would remove" if dry_run else "removed"
    for o in done.objects:
        source = f"  (source {o.source_id})" if o.source_id else ""
        typer.echo(f"{verb}  {o.reason:<6}  {_size(o.bytes):>9}  {o.path}{source}")
    if done.note:
        typer.secho(f"warning: {done.note}", fg=typer.colors.YELLOW, err=True)
    if done.kept_recent:
        typer.echo(f"kept {done.kept_recent} files written in the last 10 minutes")
    count = f"{len(done.objects)} file{'s' * (len(done.objects) != 1)}"
    if dry_run:
        typer.echo(f"dry run: {count}, {_size(done.bytes)} would be freed under"
                   f" {done.storage_root}; nothing removed")  # fmt: skip
    else:
        typer.echo(f"{verb} {count}, {_size(done.bytes)} freed under {done.storage_root}")
