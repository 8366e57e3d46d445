"""Prefect artifacts that summarise a run in the UI: sources (by file name or URL, never a
storage key), chunks embedded vs reused, time per stage, errors. An artifact is a report,
never a reason to fail the run; outside a flow run (a plain function call) nothing is
published."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.runtime import flow_run

from pipeline.run.refs import file_name
from pipeline.run.result import SourceResult

log = logging.getLogger(__name__)


def _key(prefix: str, ident: str) -> str:
    """Artifact keys allow lowercase letters, digits and dashes."""
    cleaned = "".join(c if c.isalnum() else "-" for c in ident.lower())
    return f"{prefix}-{cleaned}"[:120].strip("-")


def table(key: str, rows: Sequence[Mapping[str, Any]], description: str) -> None:
    if flow_run.id is None:
        return
    try:
        create_table_artifact(key=key, table=[dict(r) for r in rows], description=description)
    except Exception as e:
        log.warning("could not publish the %s artifact: %s", key, e)


def markdown(key: str, text: str, description: str) -> None:
    if flow_run.id is None:
        return
    try:
        create_markdown_artifact(key=key, markdown=text, description=description)
    except Exception as e:
        log.warning("could not publish the %s artifact: %s", key, e)


def source_run(result: SourceResult) -> None:
    """The ``ingest-data-source`` run: one row per stage, then the totals."""
    rows: list[dict[str, Any]] = [
        {"item": f"stage {name}", "value": f"{seconds:.3f} s"}
        for name, seconds in result.timings.items()
    ]
    name = file_name(result.source)
    rows += [
        {"item": "source", "value": name},
        {"item": "status", "value": result.status},
        {"item": "chunks", "value": result.chunks},
        {"item": "embedded", "value": result.embedded},
        {"item": "reused", "value": result.reused},
        {"item": "error", "value": result.error or ""},
    ]
    table(
        _key("ingest-source", result.source_id),
        rows,
        f"Ingestion of {name}: {result.status}",
    )


def summary(key: str, rows: Sequence[Mapping[str, Any]], totals: Mapping[str, Any]) -> None:
    """A multi-item run (FAQ sync, re-embed, retries): one row per item, plus a totals row."""
    table(key, [*rows, {"item": "TOTAL", **totals}], f"{key}: {dict(totals)}")


def chatbot_run(results: Sequence[Mapping[str, Any]], chatbot: str = "") -> None:
    """The ``ingest-chatbot`` run: one row per source."""
    ready = sum(1 for r in results if r["status"] == "ready")
    lines = [
        f"**{chatbot or 'chatbot'}**: {len(results)} sources, {ready} ready,"
        f" {len(results) - ready} failed",
        "",
        "| source | status | chunks | embedded | reused | error |",
        "|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {_cell(file_name(str(r['source'])))} | {r['status']} | {r['chunks']}"
            f" | {r['embedded']} | {r['reused']} | {_cell(r['error'] or '')} |"
        )
    markdown("ingestion-summary", "\n".join(lines), f"Ingestion summary: {chatbot}".strip(": "))


def _cell(text: str) -> str:
    """Text in a markdown table cell: its pipes escaped, on one line."""
    return text.replace("|", "\\|").replace("\n", " ")
