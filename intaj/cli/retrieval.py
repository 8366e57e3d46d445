"""``intaj search``, ``intaj ask`` and ``intaj eval``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from intaj.cli.common import ChatbotOpt, JsonOpt, emit


def search(
    query: Annotated[str, typer.Argument(help="What to look for.")],
    chatbot: ChatbotOpt,
    k: Annotated[int, typer.Option("-k", help="How many hits.", min=1, max=100)] = 5,
    mode: Annotated[str, typer.Option(help="hybrid (vector + full text) or vector.")] = "hybrid",
    as_json: JsonOpt = False,
) -> None:
    """Search CHATBOT's documents and FAQs; best hits first."""
    from intaj import services
    from retrieval.search import search as run_search

    if mode not in ("hybrid", "vector"):
        raise typer.BadParameter("choose hybrid or vector", param_hint="--mode")
    ctx = services.context()
    bot = services.chatbot(ctx, chatbot)
    with services.questions_embedded_by_service(ctx):
        hits = run_search(ctx.pool, ctx.settings, chatbot=bot, query=query, k=k, mode=mode)  # type: ignore[arg-type]
    if as_json:
        emit([{"content": h.content, "score": round(h.score, 4), "source": h.source,
               "metadata": h.metadata} for h in hits])  # fmt: skip
        return
    for n, h in enumerate(hits, 1):
        where = ", ".join(f"{k}: {v}" for k, v in h.metadata.items() if k in ("page", "headings"))
        typer.secho(f"[{n}] {h.score:.3f}  {h.source}  {where}", bold=True)
        typer.echo("    " + " ".join(h.content.split())[:300])


def ask(
    message: Annotated[str, typer.Argument(help="The visitor's message.")],
    chatbot: ChatbotOpt,
    conversation: Annotated[
        str | None, typer.Option(help="Conversation id, to continue one.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Answer MESSAGE from CHATBOT's knowledge with citations, and record the turn."""
    from intaj import services
    from retrieval.answer import answer

    ctx = services.context()
    bot = services.chatbot(ctx, chatbot)
    with services.questions_embedded_by_service(ctx):
        result = answer(
            ctx.pool, ctx.settings, chatbot=bot, message=message, conversation_id=conversation
        )
    if as_json:
        emit({
            "answer": result.answer,
            "citations": [{"source": c.source, "metadata": c.metadata, "snippet": c.snippet}
                          for c in result.citations],
            "confidence": result.confidence,
            "abstained": result.abstained,
            "conversation_id": result.conversation_id,
        })  # fmt: skip
        return
    typer.echo(result.answer)
    for c in result.citations:
        where = f", page {c.metadata['page']}" if "page" in c.metadata else ""
        if c.metadata.get("headings"):
            where += ", " + " > ".join(c.metadata["headings"])
        typer.secho(f"  [{c.number}] {c.source}{where}", fg=typer.colors.CYAN)
    typer.echo(f"confidence {result.confidence:.2f}" + (" (abstained)" if result.abstained else ""))


def eval_(
    chatbot: ChatbotOpt,
    questions: Annotated[
        Path | None,
        typer.Option(
            help='JSONL, one {"question", "answer", "source"} a line (answer null: should'
            " abstain). Default: the chatbot's FAQs."
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Evaluate CHATBOT's retrieval: recall@1/@5 and MRR@10 of the passage holding each
    answer (its documents searched, FAQs left out), and how often `ask` would abstain."""
    from intaj import services
    from retrieval import evaluate

    ctx = services.context()
    bot = services.chatbot(ctx, chatbot)
    asked = evaluate.read_questions(questions) if questions else None
    with services.questions_embedded_by_service(ctx):
        report = evaluate.evaluate(ctx.pool, ctx.settings, chatbot=bot, questions=asked)
    if as_json:
        emit(report.as_dict())
    else:
        typer.echo(report.table())
