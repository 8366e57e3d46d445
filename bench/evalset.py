"""The eval set's pages in a chatbot, for the tuning scripts (bench/tune_hybrid.py,
bench/calibrate.py): ``--chatbot NAME`` names one that holds them already; without it, the
pages are ingested into a new one with ``intaj ingest``, as users do."""

from __future__ import annotations

import argparse
import subprocess
import sys
import uuid
from pathlib import Path

DATA = Path(__file__).resolve().parent / "data" / "python-faq"


def chatbot_from_args(description: str | None, prefix: str) -> str:
    """The chatbot name from the command line, ingesting the pages first when none is given."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--chatbot", help="a chatbot that already holds the eval pages")
    args = parser.parse_args()
    if args.chatbot:
        return str(args.chatbot)
    name = f"{prefix}-{uuid.uuid4().hex[:6]}"
    files = sorted(str(p) for p in (DATA / "html").glob("*.html"))
    subprocess.run(
        [sys.executable, "-m", "intaj.cli", "ingest", *files, "--chatbot", name, "--json"],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return name
