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


def _secret(value: str | None, option: str) -> str | None:
    """An option's value; ``env:NAME`` reads it from that environment variable."""
    if value is None or not value.startswith("env:"):
        return value
    if value[4:] not in os.environ:
        raise typer.BadParameter(f"environment variable {value[4:]} is not set", param_hint=option)
    return os.environ[value[4:]]


def _secret_opt(help_text: str) -> object:
    return typer.Option(help=f"{help_text} (or env:VARIABLE). WhatsApp only.")


@connection_app.command("add")
def connection_add(
    chatbot: ChatbotOpt,
    platform: Annotated[str, typer.Option(help="e.g. openai, website, whatsapp.")],
    values: Annotated[
        list[str] | None,
        typer.Option("--set", help="A credential as KEY=VALUE, or KEY=env:VARIABLE; repeatable."),
    ] = None,
    phone_number_id: Annotated[
        str | None, _secret_opt("The number's 'Phone number ID' from Meta's API Setup page")
    ] = None,
    access_token: Annotated[str | None, _secret_opt("A (system user) access token")] = None,
    app_secret: Annotated[str | None, _secret_opt("The Meta app's secret")] = None,
    verify_token: Annotated[
        str | None, _secret_opt("The webhook's verify token; made for you when left out")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Store a connection's credentials, encrypted (AES-256-GCM, bound to the row). For
    --platform whatsapp: prints the webhook URL (and verify token) to give Meta
    (docs/whatsapp.md)."""
    from intaj import records, services

    if platform == "whatsapp":
        _whatsapp_add(chatbot, phone_number_id, access_token, app_secret, verify_token, as_json)
        return
    if not values:
        raise typer.BadParameter("give the credentials as --set KEY=VALUE", param_hint="--set")
    creds = _credential_pairs(values)
    ctx = services.context()
    connection_id = records.add_connection(ctx, services.chatbot(ctx, chatbot), platform, creds)
    if as_json:
        emit({"id": connection_id, "platform": platform, "credentials": sorted(creds)})
        return
    typer.echo(f"connection {connection_id} saved ({', '.join(sorted(creds))} encrypted)")


def _whatsapp_add(
    chatbot: str,
    phone_number_id: str | None,
    access_token: str | None,
    app_secret: str | None,
    verify_token: str | None,
    as_json: bool,
) -> None:
    from intaj import services
    from intaj.whatsapp import setup

    given = {"--phone-number-id": phone_number_id, "--access-token": access_token,
             "--app-secret": app_secret}  # fmt: skip
    missing = [name for name, value in given.items() if not value]
    if missing:
        raise typer.BadParameter(f"--platform whatsapp needs {', '.join(missing)}")
    ctx = services.context()
    added = setup.add(
        ctx.pool, ctx.settings, services.chatbot(ctx, chatbot),
        phone_number_id=str(_secret(phone_number_id, "--phone-number-id")),
        access_token=str(_secret(access_token, "--access-token")),
        app_secret=str(_secret(app_secret, "--app-secret")),
        verify_token=_secret(verify_token, "--verify-token"),
    )  # fmt: skip
    shown = added.verify_token if added.verify_token_generated else None
    if as_json:
        emit({"id": added.connection_id, "platform": "whatsapp",
              "webhook_url": added.webhook_url, "verify_token": shown})  # fmt: skip
        return
    typer.echo(f"connection {added.connection_id} saved (credentials encrypted)")
    typer.echo(f"webhook URL: {added.webhook_url}")
    if shown:
        typer.echo(f"verify token: {shown}")
    typer.echo("Paste them into your Meta app: WhatsApp > Configuration > Webhook.")


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
