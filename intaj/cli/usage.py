"""``intaj usage [--owner ID_OR_EMAIL] [--json]``: an owner's plan and what they use of it
(pipeline/plans.py; docs/plans.md)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from intaj.cli.common import JsonOpt, emit

OwnerOpt = Annotated[
    str | None,
    typer.Option("--owner", help="The owner's profile id or email (default: the local profile)."),
]


def _line(label: str, pair: dict[str, Any]) -> str:
    allowed = "no limit" if pair["allowed"] is None else f"{pair['allowed']:,}"
    used = "" if pair["used"] is None else f"{pair['used']:,} of "
    return f"  {label:<26}{used}{allowed}"


def usage(owner: OwnerOpt = None, as_json: JsonOpt = False) -> None:
    """Show an owner's plan (profiles.subscription) and their use of each of its limits."""
    from intaj import records, services
    from pipeline.plans import usage_json

    ctx = services.context()
    data = usage_json(records.usage(ctx, owner))
    if as_json:
        emit(data)
        return
    limits = data["limits"]
    typer.echo(f"owner {data['owner']}: plan {data['plan']}")
    typer.echo(_line("chatbots", limits["chatbots"]))
    typer.echo(_line("messages this month", limits["messages_per_month"]))
    typer.echo(_line("website widgets", limits["widgets"]))
    typer.echo(_line("WhatsApp connections", limits["whatsapp_connections"]))
    typer.echo(_line("largest file (bytes)", limits["file_bytes"]))
    for bot in data["chatbots"]:
        typer.echo(f"chatbot {bot['name']} ({bot['id']})")
        typer.echo(_line("data sources", bot["sources_per_chatbot"]))
        typer.echo(_line("stored bytes", bot["bytes_per_chatbot"]))
