"""The CLI package's shared machinery: one error handler for every command group, and the
Prefect environment set when a command runs, not when the CLI is imported."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli import intaj

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(
    "args",
    [
        ("search", "anything", "--chatbot", "nobody-here"),
        ("ask", "anything", "--chatbot", "nobody-here"),
        ("source", "list", "--chatbot", "nobody-here"),
        ("faq", "list", "--chatbot", "nobody-here"),
        ("connection", "list", "--chatbot", "nobody-here"),
        ("reembed", "--chatbot", "nobody-here", "--model", "text-embedding-3-small"),
    ],
)
def test_an_intaj_error_from_any_command_group_is_one_line_and_exit_code_2(
    args: tuple[str, ...],
) -> None:
    code, output = intaj(*args)
    assert code == 2
    assert "error: no chatbot named 'nobody-here'" in output
    assert "Traceback" not in output


def test_the_cli_catches_intaj_errors_in_one_place() -> None:
    handlers = {
        str(f.relative_to(ROOT)): f.read_text(encoding="utf-8").count("except IntajError")
        for f in (ROOT / "intaj" / "cli").glob("*.py")
    }
    assert {f: n for f, n in handlers.items() if n} == {"intaj/cli/common.py": 1}


def test_importing_the_cli_sets_no_prefect_environment_running_a_command_does(
    tmp_path: Path,
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env["INTAJ_HOME"] = str(tmp_path)
    script = (
        "import os, sys\n"
        "import intaj.cli\n"
        "print(sorted(k for k in os.environ if k.startswith('PREFECT_')))\n"
        "from typer.testing import CliRunner\n"
        "CliRunner().invoke(intaj.cli.app, ['connection', 'new-key'])\n"
        "print(os.environ.get('PREFECT_HOME'), os.environ.get('PREFECT_LOGGING_LEVEL'))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], env=env, cwd=ROOT, capture_output=True, text=True,
        check=True, timeout=120,
    ).stdout.splitlines()  # fmt: skip
    assert out == ["[]", f"{tmp_path / 'prefect'} WARNING"]
