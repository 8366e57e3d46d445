"""Running the `intaj` CLI in-process from tests, as a user would on the command line."""

from __future__ import annotations

import json
from typing import Any

from typer.testing import CliRunner

from intaj.cli import app

runner = CliRunner()


def intaj(*args: str) -> tuple[int, Any]:
    """Exit code and output of ``intaj ARGS...``: parsed JSON when it is JSON, else text."""
    result = runner.invoke(app, list(args))
    try:
        return result.exit_code, json.loads(result.stdout)
    except json.JSONDecodeError:
        return result.exit_code, result.output
