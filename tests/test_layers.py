"""The house's import rules and sizes hold over the product code (tests/layers.py), and the
checker refuses what they forbid: each case adds a module with one forbidden import to the
real tree and expects exactly that violation."""

from __future__ import annotations

import ast

import pytest

from tests.layers import (
    FLOORS,
    ROOT,
    cycles,
    product_files,
    status_writes,
    tree_violations,
    violations,
)

MAX_LINES = 300
MAX_FUNCTION_LINES = 60


def test_the_product_code_keeps_its_floors_and_frameworks_at_the_edges() -> None:
    assert tree_violations(product_files()) == []


def test_the_product_code_has_no_import_cycle() -> None:
    assert cycles(product_files()) == []


def test_no_product_function_is_over_60_lines() -> None:
    long = {
        f"{path}:{node.name}": node.end_lineno - node.lineno + 1
        for path, source in product_files().items()
        for node in ast.walk(ast.parse(source, path))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.end_lineno is not None
        and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES
    }
    assert long == {}


def test_no_product_module_is_over_300_lines() -> None:
    sizes = {path: source.count("\n") for path, source in product_files().items()}
    assert {p: n for p, n in sizes.items() if n > MAX_LINES} == {}
    assert len(sizes) > 50  # the walk found the tree


FORBIDDEN = [
    ("pipeline/evil.py", "from flows import ingest\n", "pipeline/ may import only"),
    ("pipeline/evil.py", "import intaj.services\n", "pipeline/ may import only"),
    ("db/evil.py", "def f():\n    from pipeline import ingest\n", "db/ may import only"),
    ("core/evil.py", "from db import open_pool\n", "core/ may import only"),
    ("retrieval/evil.py", "from flows.ingest import ingest_chatbot\n", "retrieval/ may import"),
    ("flows/evil.py", "import retrieval.search\n", "flows/ may import only"),
    ("pipeline/run/evil.py", "from ...flows import tasks\n", "pipeline/ may import only"),
    ("retrieval/search2.py", "from prefect import flow\n", "prefect belongs in flows/"),
    ("intaj/services2.py", "import prefect.deployments\n", "prefect belongs in flows/"),
    ("retrieval/answer2.py", "from fastapi import FastAPI\n", "fastapi belongs in"),
    ("intaj/web/routes.py", "from fastapi import APIRouter\n", "fastapi belongs in"),
    ("flows/web.py", "from starlette.requests import Request\n", "starlette belongs in"),
    ("intaj/records2.py", "import typer\n", "typer belongs in intaj/cli/"),
    ("retrieval/cli.py", "def f():\n    import click\n", "click belongs in intaj/cli/"),
]


@pytest.mark.parametrize(("path", "source", "why"), FORBIDDEN)
def test_a_module_with_a_forbidden_import_fails_the_check(path: str, source: str, why: str) -> None:
    found = tree_violations({**product_files(), path: source})
    assert len(found) == 1 and found[0].startswith(f"{path}:") and why in found[0], found


@pytest.mark.parametrize(
    ("path", "source"),
    [
        ("flows/ok.py", "from prefect import flow\nfrom pipeline.run import job\n"),
        ("intaj/cli/ok.py", "import typer\nfrom flows import startup\nfrom retrieval import api"),
        (
            "intaj/http/routes.py",
            "from fastapi import APIRouter\nfrom starlette.responses import Response",
        ),
        (
            "intaj/http/api.py",
            "from fastapi import FastAPI\nfrom pipeline.embed import embedder_of",
        ),
        ("pipeline/ok.py", "from .run import job\nfrom db import sources\nfrom core import errors"),
    ],
)
def test_imports_down_the_floors_and_frameworks_in_their_place_pass(path: str, source: str) -> None:
    assert violations(source, path) == []


def test_an_import_cycle_fails_the_check_type_only_too() -> None:
    cycle = {
        "pipeline/a.py": "from pipeline.b import B\n",
        "pipeline/b.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
        "    from pipeline.a import A\n",
    }
    assert cycles({**product_files(), **cycle}) == [["pipeline.a", "pipeline.b"]]
    # A lazy import inside a function is no cycle (it runs after both modules are loaded).
    lazy = {**cycle, "pipeline/b.py": "def f():\n    from pipeline.a import A\n"}
    assert cycles({**product_files(), **lazy}) == []


def test_the_floors_name_every_product_package() -> None:
    packages = {p.name for p in ROOT.iterdir() if (p / "__init__.py").exists()}
    assert packages - {"tests", "bench", "scripts", "examples"} == set(FLOORS)


def test_a_source_status_is_written_by_pipeline_status_only_and_its_run() -> None:
    assert status_writes(product_files()) == []


@pytest.mark.parametrize(
    ("path", "source"),
    [
        ("flows/evil.py", "def f(conn):\n    sources_db.mark_failed(conn, source_id='x')\n"),
        ("pipeline/ingest2.py", "from pipeline import status\nstatus.ready(pool, source_id=1)\n"),
    ],
)
def test_a_status_written_elsewhere_fails_the_check(path: str, source: str) -> None:
    assert [w.split(":")[0] for w in status_writes({**product_files(), path: source})] == [path]
