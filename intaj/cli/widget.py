"""``intaj widget add|list``: a ``website`` connection of a chatbot, answering pages of the
given origins; the routes are in intaj/http/widget.py."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from intaj.cli.common import ChatbotOpt, JsonOpt, group

widget_app = group("Website widgets: a chat bubble for the chatbot on the sites you allow.")
ServerOpt = Annotated[
    str, typer.Option(help="The address visitors' browsers reach `intaj serve` at.")
]


def snippet(server: str, widget_id: str) -> str:
    """The tag an owner pastes into their pages."""
    base = server.rstrip("/")
    return f'<script src="{base}/static/widget.js" data-chatbot="{widget_id}" async></script>'


@widget_app.command("add")
def widget_add(
    chatbot: ChatbotOpt,
    origins: Annotated[
        list[str],
        typer.Option(
            "--origin", help="A site that may embed it, as https://shop.example; repeatable."
        ),
    ],
    server: ServerOpt = "http://127.0.0.1:8000",
    as_json: JsonOpt = False,
) -> None:
    """Add a website widget to CHATBOT (a 'website' connection) and print its script tag."""
    from intaj import records, services
    from intaj.http.origins import OriginError, normalize_origin

    try:
        allowed = list(dict.fromkeys(normalize_origin(o) for o in origins))
    except OriginError as e:
        raise typer.BadParameter(str(e), param_hint="--origin") from e
    ctx = services.context()
    bot = services.chatbot(ctx, chatbot)
    widget = records.add_widget(ctx, bot, allowed)
    tag = snippet(server, widget.id)
    if as_json:
        data = {"id": widget.id, "chatbot": bot.id, "allowed_origins": allowed, "snippet": tag}
        typer.echo(json.dumps(data, indent=2))
        return
    typer.echo(f"widget {widget.id} answers on {', '.join(allowed)}; paste into your pages:")
    typer.echo(tag)


@widget_app.command("list")
def widget_list(chatbot: ChatbotOpt, server: ServerOpt = "http://127.0.0.1:8000",
                as_json: JsonOpt = False) -> None:  # fmt: skip
    """List CHATBOT's website widgets, their origins and script tags."""
    from intaj import records, services

    ctx = services.context()
    widgets = records.widgets(ctx, services.chatbot(ctx, chatbot))
    rows = [{"id": w.id, "allowed_origins": list(w.allowed_origins),
             "snippet": snippet(server, w.id)} for w in widgets]  # fmt: skip
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    for r in rows:
        typer.echo(f"{r['id']}  {', '.join(r['allowed_origins']) or '(no site)'}")
        typer.echo(f"  {r['snippet']}")
