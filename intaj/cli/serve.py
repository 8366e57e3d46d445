"""``intaj serve`` (the HTTP API) and ``intaj demo``."""

from __future__ import annotations

from typing import Annotated

import typer

from intaj.cli.faq import faq_import
from intaj.cli.ingest import ingest
from intaj.cli.retrieval import ask

DEMO_QUESTION_FILE = "demo-question.txt"


def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.", min=1, max=65535)] = 8000,
    open_browser: Annotated[
        bool, typer.Option("--open", help="Open the playground in a web browser.")
    ] = False,
    chatbot: Annotated[
        str | None, typer.Option(help="The chatbot (id) the playground shows first.")
    ] = None,
) -> None:
    """Run the HTTP API for the chatbot runtime (routes, auth and limits: docs/api.md), the
    playground at /playground and the website widget (docs/web.md)."""
    import threading
    import webbrowser

    import uvicorn

    from core.settings import get_settings
    from intaj.http import create_app
    from intaj.web.launch import playground_url, with_session_key

    settings, key = with_session_key(get_settings())
    if key:
        typer.secho(
            "none of INTAJ_SUPABASE_URL, INTAJ_JWT_SECRET, INTAJ_SERVICE_API_KEYS is set: the"
            " API accepts only this run's one-off key, in the playground link below",
            fg=typer.colors.YELLOW,
            err=True,
        )
    api = create_app(settings)
    url = playground_url(host, port, key=key, chatbot=chatbot)
    typer.secho(f"Playground: {url}", bold=True)
    if open_browser:
        threading.Timer(1.5, webbrowser.open, args=(url,)).start()
    uvicorn.run(api, host=host, port=port, log_level="info", server_header=False)


def demo(
    chatbot: Annotated[str, typer.Option("--chatbot", "-c", help="Chatbot name.")] = "demo",
    question: Annotated[str | None, typer.Option(help="The question to ask.")] = None,
    open_browser: Annotated[
        bool, typer.Option("--open", help="Then serve the playground and open it in a browser.")
    ] = False,
) -> None:
    """Ingest the sample documents and FAQs (intaj/examples/) and answer a question about them."""
    from intaj import services

    folder = services.examples_dir()
    docs = sorted(
        str(p) for p in folder.iterdir() if p.suffix.lower() in (".pdf", ".docx", ".html", ".md")
        and p.name.lower() != "readme.md"
    )  # fmt: skip
    typer.secho(f"Ingesting {len(docs)} sample documents from {folder} ...", bold=True)
    try:
        ingest(docs, chatbot=chatbot, as_json=False)
    except typer.Exit as e:
        if e.exit_code:
            raise
    faqs = folder / "faqs.csv"
    if faqs.exists():
        faq_import(faqs, chatbot=chatbot)
    asked = question or (folder / DEMO_QUESTION_FILE).read_text(encoding="utf-8").strip()
    typer.secho(f"\nQ: {asked}", bold=True)
    ask(asked, chatbot=chatbot, conversation=None, as_json=False)
    if open_browser:
        serve(open_browser=True, chatbot=services.chatbot(services.context(), chatbot).id)
