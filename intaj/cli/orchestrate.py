"""The orchestration commands: ``intaj listen`` (the upload trigger), ``intaj serve-flows``
(every deployment in one process) and ``intaj sweep`` (fail runs that lost their worker); the
logic lives in ``flows/``."""

from __future__ import annotations

import json
import logging
import signal
import threading
from collections.abc import Callable
from typing import Annotated, Any

import typer


def _stop_on_signals(then: Callable[[], None] | None = None) -> threading.Event:
    """The first SIGINT/SIGTERM asks for a clean stop (after the current dispatch; ``then``
    is called too); a second one interrupts."""
    stop = threading.Event()

    def handler(signum: int, frame: Any) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        typer.echo(f"{signal.Signals(signum).name}: stopping after the current dispatch", err=True)
        stop.set()
        if then is not None:
            then()

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)
    return stop


def listen(
    mode: Annotated[
        str,
        typer.Option(
            help="auto: run the ingest-data-source deployment when PREFECT_API_URL is set,"
            " else run the flow in this process; or force deployment / in-process."
        ),
    ] = "auto",
    sweep_seconds: Annotated[
        float | None,
        typer.Option(help="Catch-up sweep interval (default INTAJ_LISTEN_SWEEP_SECONDS)."),
    ] = None,
) -> None:
    """The upload trigger: LISTEN for new or re-uploaded data sources (and sweep for pending
    ones on start and every N seconds), claim each once, and ingest it. Stops on
    SIGINT/SIGTERM."""
    from flows.trigger import Dispatcher, Listener, resolve_mode
    from intaj import services

    if mode not in ("auto", "deployment", "in-process"):
        raise typer.BadParameter("choose auto, deployment or in-process", param_hint="--mode")
    logging.getLogger("flows").setLevel(logging.INFO)
    stop = _stop_on_signals()
    try:
        ctx = services.context()
        settings = ctx.settings
        if sweep_seconds is not None:
            settings = settings.model_copy(update={"listen_sweep_seconds": sweep_seconds})
        resolved = resolve_mode(mode)  # type: ignore[arg-type]
        temporary = resolved == "in-process" and _warm_up(settings)
        dispatcher = Dispatcher(ctx.pool, settings, resolved, temporary_server=temporary)
        try:
            Listener(settings, dispatcher, stop=stop, announce=_say).run()
        finally:
            dispatcher.close()
    except KeyboardInterrupt:
        raise typer.Exit(130) from None
    _say("stopped")


def _say(message: str) -> None:
    typer.echo(message)
    import sys

    sys.stdout.flush()


def _warm_up(settings: Any) -> bool:
    """Load the embedding model and have the Prefect API answering before the first upload
    arrives. Returns whether that server is a temporary one, started here (its flow runs send
    no heartbeat: a heartbeat's thread ends each run up to a second late, measured 0.9 s of a
    1.1 s run of a one-chunk file; flows/startup.py)."""
    from flows.startup import warm_up
    from pipeline.embed import get_embedder

    return warm_up(lambda: get_embedder(settings))


def serve_flows(
    limit: Annotated[int, typer.Option(help="At most this many flow runs at a time.")] = 4,
    poll_seconds: Annotated[
        float,
        typer.Option(
            min=0.05,
            help="Ask the Prefect server for scheduled runs this often. Runs of uploads start"
            " at once anyway (the upload trigger announces them); the poll finds runs started"
            " from the Prefect UI.",
        ),
    ] = 0.5,
    process_per_run: Annotated[
        bool,
        typer.Option(
            "--process-per-run",
            help="Run each flow run in a new process (Prefect's runner): it loads the model"
            " again each time, but a run cancelled in the UI is killed.",
        ),
    ] = False,
) -> None:
    """Serve every flow as a deployment (`<flow>/<flow>`) against the Prefect server in
    PREFECT_API_URL. Flow runs execute in this process, which keeps the embedding model loaded
    (each run logs the model loads so far); a run of an upload starts when the upload trigger
    announces it, others at the next poll. Stops on SIGINT/SIGTERM once the runs in flight
    are done."""
    if process_per_run:
        from flows.deployments import serve_all

        serve_all(limit=limit)
        return
    from flows.worker import WarmWorker
    from intaj import services

    logging.getLogger("flows").setLevel(logging.INFO)
    wake = threading.Event()  # the worker's poll wait ends at once on a stop
    stop = _stop_on_signals(then=wake.set)
    try:
        ctx = services.context()
        WarmWorker(
            ctx.settings,
            limit=limit,
            poll_seconds=poll_seconds,
            stop=stop,
            wake=wake,
            announce=_say,
        ).run()
    except KeyboardInterrupt:
        raise typer.Exit(130) from None


def sweep(
    lease: Annotated[
        float | None,
        typer.Option(help="Heartbeat lease in seconds (default INTAJ_RUN_LEASE_SECONDS)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Fail ingestion runs whose heartbeat is older than the lease (worker lost), and their
    sources (error_code worker_lost, previous chunks kept), so retry-failed re-runs them."""
    from flows.sweep import sweep as run_sweep
    from intaj import services

    ctx = services.context()
    swept = run_sweep(ctx.pool, ctx.settings, lease_seconds=lease)
    if as_json:
        typer.echo(json.dumps({
            "lost_runs": swept.lost_runs, "failed_sources": swept.failed_sources,
            "stale_claims": swept.stale_claims,
        }))  # fmt: skip
    else:
        typer.echo(
            f"{len(swept.lost_runs)} lost runs failed ({len(swept.failed_sources)} sources),"
            f" {len(swept.stale_claims)} stale claims failed"
        )
