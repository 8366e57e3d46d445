"""``intaj connection add|list|new-key|rotate-key``."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from intaj.cli.common import ChatbotOpt, JsonOpt, emit, group

connection_app = group(
    "A chatbot's connections to outside platforms; credentials are encrypted at rest."
)


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
    from intaj import records, services

    creds = _credential_pairs(values)
    ctx = services.context()
    connection_id = records.add_connection(ctx, services.chatbot(ctx, chatbot), platform, creds)
    typer.echo(f"connection {connection_id} saved ({', '.join(sorted(creds))} encrypted)")


@connection_app.command("list")
def connection_list(
    chatbot: Annotated[
        str | None, typer.Option("--chatbot", "-c", help="Only this chatbot.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """List connections with their credentials masked."""
    from intaj import records, services

    ctx = services.context()
    rows = records.connections(ctx, services.chatbot(ctx, chatbot) if chatbot else None)
    if as_json:
        emit(rows)
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
    from intaj import records, services

    count = records.rotate_keys(services.context())
    typer.echo(f"re-encrypted {count} connections with the current key")
