"""The docs match the code: the CLI reference is generated from the CLI, every command is in
the README, and CI runs the README's test command."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import typer

from intaj.cli import app

ROOT = Path(__file__).resolve().parent.parent


def _commands(cmd: object, path: tuple[str, ...] = ()) -> list[str]:
    if hasattr(cmd, "list_commands"):
        found: list[str] = []
        for name in cmd.list_commands(None):
            found += _commands(cmd.get_command(None, name), (*path, name))
        return found
    return [" ".join(path)]


def test_cli_reference_is_generated_from_the_cli() -> None:
    spec = importlib.util.spec_from_file_location("cli_docs", ROOT / "scripts" / "cli_docs.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert (ROOT / "docs" / "cli.md").read_text(encoding="utf-8") == module.render(), (
        "docs/cli.md is out of date: run python scripts/cli_docs.py"
    )


def test_every_command_is_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    commands = _commands(typer.main.get_command(app))
    assert "ingest" in commands and "db url" in commands
    missing = [c for c in commands if f"intaj {c}" not in readme]
    assert missing == []


def test_ci_runs_the_readme_test_command() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "scripts/check" in readme and "scripts/demo" in readme
    assert "exec scripts/check" in ci
