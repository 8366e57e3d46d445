"""Render docs/cli.md from the CLI itself, so the reference never drifts from the code.

python scripts/cli_docs.py          # rewrite docs/cli.md
python scripts/cli_docs.py --check  # exit 1 if docs/cli.md is out of date (the tests run this)
"""

from __future__ import annotations

import inspect
import sys
from pathlib import Path
from typing import Any

import typer

from intaj.cli import app

DOC = Path(__file__).resolve().parent.parent / "docs" / "cli.md"
HEADER = """# `intaj` command reference

Generated from the CLI by `python scripts/cli_docs.py`; a test fails when it is out of date.
Every command also answers `--help`.
"""


def _param(p: Any) -> str:
    if p.param_type_name == "argument":
        name = f"`{(p.name or '').upper()}`" + ("..." if p.nargs == -1 else "")
        kind = "argument"
    else:
        name = ", ".join(f"`{o}`" for o in p.opts)
        kind = "flag" if getattr(p, "is_flag", False) else "option"
    help_text = " ".join((getattr(p, "help", None) or "").split())
    default = p.default if not callable(p.default) else None
    extra = []
    if p.required:
        extra.append("required")
    elif default not in (None, False, ()) and kind != "argument":
        extra.append(f"default `{default}`")
    tail = f" ({', '.join(extra)})" if extra else ""
    return f"| {name} | {kind} | {help_text}{tail} |"


def _walk(cmd: Any, path: list[str]) -> list[str]:
    lines: list[str] = []
    if hasattr(cmd, "list_commands"):  # a group (typer vendors its own click)
        for name in cmd.list_commands(None):
            sub = cmd.get_command(None, name)
            if sub is not None and not sub.hidden:
                lines += _walk(sub, [*path, name])
        return lines
    params = [p for p in cmd.params if p.name != "help"]
    lines += [f"## `{' '.join(path)}`", "", inspect.cleandoc(cmd.help or ""), ""]
    if params:
        lines += ["| parameter | kind | meaning |", "|---|---|---|"]
        lines += [_param(p) for p in params]
        lines.append("")
    return lines


def render() -> str:
    root = typer.main.get_command(app)
    return HEADER + "\n" + "\n".join(_walk(root, ["intaj"])).rstrip() + "\n"


def main() -> int:
    text = render()
    if "--check" in sys.argv:
        if not DOC.exists() or DOC.read_text(encoding="utf-8") != text:
            print("docs/cli.md is out of date: run python scripts/cli_docs.py", file=sys.stderr)
            return 1
        return 0
    DOC.parent.mkdir(exist_ok=True)
    DOC.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
