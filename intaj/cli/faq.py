"""``intaj faq add|import|list|delete``."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer

from intaj.cli.common import ChatbotOpt, JsonOpt, emit, fail, group

faq_app = group("Manage a chatbot's FAQs (embedded into the same index).")


@faq_app.command("add")
def faq_add(
    chatbot: ChatbotOpt,
    question: Annotated[str, typer.Option(help="The question, as visitors ask it.")],
    answer: Annotated[str, typer.Option(help="The answer to give.")],
) -> None:
    """Add an FAQ (or replace the answer of the same question) and embed it."""
    from intaj import records, services

    ctx = services.context()
    bot = services.chatbot(ctx, chatbot, create=True)
    (faq,), synced = records.add_faqs(ctx, bot, [(question, answer)])
    typer.echo(f"faq {faq.id} saved ({synced.embedded} embedded)")


@faq_app.command("import")
def faq_import(
    file: Annotated[Path, typer.Argument(help="CSV with a header row: question,answer.")],
    chatbot: ChatbotOpt,
) -> None:
    """Import FAQs from a CSV file and embed the new or changed ones."""
    from intaj import records, services
    from pipeline.faqs import read_csv

    try:
        text = file.read_text(encoding="utf-8-sig")
    except OSError as e:
        raise fail(f"cannot read {file}: {e.strerror}", 2) from e
    pairs = read_csv(text)
    ctx = services.context()
    bot = services.chatbot(ctx, chatbot, create=True)
    _, synced = records.add_faqs(ctx, bot, pairs)
    typer.echo(
        f"imported {len(pairs)} FAQs into {bot.name}: {synced.written} written,"
        f" {synced.embedded} embedded, {synced.reused} reused"
    )


@faq_app.command("list")
def faq_list(chatbot: ChatbotOpt, as_json: JsonOpt = False) -> None:
    """List CHATBOT's FAQs."""
    from intaj import records, services

    ctx = services.context()
    faqs = records.faqs(ctx, services.chatbot(ctx, chatbot))
    if as_json:
        emit([asdict(f) for f in faqs])
        return
    for f in faqs:
        typer.echo(f"{f.id}  Q: {f.question}\n{' ' * 38}A: {f.answer}")


@faq_app.command("delete")
def faq_delete(faq_id: Annotated[str, typer.Argument(help="The FAQ's id.")]) -> None:
    """Delete an FAQ; its chunk goes with it."""
    from intaj import records, services

    if not records.delete_faq(services.context(), faq_id):
        raise fail(f"no FAQ {faq_id}", 1)
    typer.echo(f"deleted faq {faq_id}")
