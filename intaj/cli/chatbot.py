"""``intaj chatbot create|set|list``: a chatbot's language (en, ar, multi) picks its embedding
model, its text-search configuration and its replies' language (``pipeline/languages.py``)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from intaj.cli.common import JsonOpt, emit, fail, group, rebuilt_source_reporter

chatbot_app = group("Create chatbots and choose their language (en, ar or multi).")

LanguageOpt = Annotated[
    str,
    typer.Option(
        "--language",
        "-l",
        help=(
            "en: English (the English model); ar: Arabic; multi: Arabic and English, questions"
            " in either (both: the multilingual model and Arabic + English text search)."
        ),
    ),
]


def _row(bot: Any, settings: Any) -> dict[str, Any]:
    from pipeline.embed import model_of

    return {
        "id": bot.id,
        "name": bot.name,
        "language": bot.language_code,
        "text_search": bot.language,
        "embedding_model": model_of(bot, settings),
    }


@chatbot_app.command("create")
def create(
    name: Annotated[str, typer.Argument(help="The new chatbot's name.")],
    language: LanguageOpt = "en",
    as_json: JsonOpt = False,
) -> None:
    """Create chatbot NAME in LANGUAGE (an existing one: use `intaj chatbot set`)."""
    from intaj import services

    ctx = services.context()
    bot = services.create_chatbot(ctx, name, language)
    if as_json:
        emit(_row(bot, ctx.settings))
    else:
        typer.echo(f"chatbot {bot.name} ({bot.id}) created, language {bot.language_code}")


@chatbot_app.command("set")
def set_(
    name: Annotated[str, typer.Argument(help="The chatbot (name or id).")],
    language: LanguageOpt,
    as_json: JsonOpt = False,
) -> None:
    """Change NAME's language. When that changes its embedding model, its sources and FAQs are
    embedded again beside the current vectors and the chatbot switches in one step; until
    then, and if that fails (exit code 1), it answers as before."""
    from intaj import services
    from pipeline.languages import change_language

    ctx = services.context()
    bot = services.chatbot(ctx, name)
    report = rebuilt_source_reporter(as_json)
    changed = change_language(ctx.pool, ctx.settings, bot, language, progress=report)
    if as_json:
        emit(_row(changed.chatbot, ctx.settings) | {"previous": changed.previous,
             "reembed": changed.reembed, "error": changed.error})  # fmt: skip
    elif changed.error is None:
        row = _row(changed.chatbot, ctx.settings)
        typer.echo(
            f"{bot.name}: language {changed.previous} -> {row['language']}"
            f" (model {row['embedding_model']}, text search {row['text_search']})"
        )
    if changed.error is not None:
        raise fail(changed.error, 1)


@chatbot_app.command("list")
def list_(as_json: JsonOpt = False) -> None:
    """The local profile's chatbots: id, name, language, embedding model."""
    from intaj import services

    ctx = services.context()
    rows = [_row(bot, ctx.settings) for bot in services.chatbots(ctx)]
    if as_json:
        emit(rows)
        return
    for row in rows:
        typer.echo(f"{row['id']}  {row['name']:<24} {row['language']:<6} {row['embedding_model']}")
