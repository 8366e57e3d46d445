"""U7: every outbound HTTP request of ingestion goes through the guarded client.

An AST walk over our packages; it fails when a raw HTTP client shows up outside the modules
allowed to hold one:

- ``pipeline/sources/http.py`` (the guarded client) and ``pipeline/sources/netguard.py``;
- ``pipeline/sources/supabase.py`` (operator-configured Supabase URL, never a user's);
- ``pipeline/sources/s3.py`` for boto3 (operator-configured endpoint);
- ``retrieval/`` (the LLM client).

ruff's banned-api rule already refuses ``requests`` and ``urllib.request``; this test also
covers ``httpx``/``httpcore`` entry points, ``urllib3``, ``aiohttp``, ``http.client``, ``boto3``
and ``socket.create_connection``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ["core", "db", "pipeline", "retrieval", "flows", "intaj"]

HTTPX_ENTRY_POINTS = {
    "get", "post", "put", "patch", "delete", "head", "options", "request", "stream",
    "Client", "AsyncClient", "HTTPTransport", "AsyncHTTPTransport",
}  # fmt: skip
RAW_CLIENTS = {"requests", "urllib.request", "urllib3", "aiohttp", "http.client", "pycurl"}

# module -> the files (or folders, ending in "/") allowed to use it
ALLOWED = {
    # retrieval/ (LLM endpoints) and the WhatsApp Graph API client call URLs the operator
    # configures (settings), the flow service's client the Prefect API on 127.0.0.1 that the
    # home's own service wrote down; never a URL a user gave: the SSRF guard is for those
    "httpx": (
        "pipeline/sources/http.py",
        "pipeline/sources/supabase.py",
        "retrieval/",
        "intaj/whatsapp/graph.py",
        "flows/service_runs.py",
    ),
    "httpcore": ("pipeline/sources/http.py", "pipeline/sources/netguard.py"),
    "boto3": ("pipeline/sources/s3.py",),
    "socket.create_connection": (),
    **{name: () for name in RAW_CLIENTS},
}


def _allowed(what: str, rel: str) -> bool:
    return any(rel == p or (p.endswith("/") and rel.startswith(p)) for p in ALLOWED[what])


def uses(tree: ast.AST) -> list[tuple[str, int]]:
    """``(what, line)`` for each raw-client use in a module."""
    found: list[tuple[str, int]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                top = alias.name.split(".")[0]
                if alias.name in RAW_CLIENTS or top in RAW_CLIENTS:
                    found.append((alias.name if alias.name in RAW_CLIENTS else top, node.lineno))
                elif top in ("httpcore", "boto3"):
                    found.append((top, node.lineno))
        elif isinstance(node, ast.ImportFrom) and node.module:
            module = node.module
            names = {a.name for a in node.names}
            if module in RAW_CLIENTS or module.split(".")[0] in RAW_CLIENTS:
                found.append((module, node.lineno))
            elif module == "urllib" and "request" in names:
                found.append(("urllib.request", node.lineno))
            elif module == "http" and "client" in names:
                found.append(("http.client", node.lineno))
            elif module.split(".")[0] in ("httpcore", "boto3"):
                found.append((module.split(".")[0], node.lineno))
            elif module == "httpx" and names & HTTPX_ENTRY_POINTS:
                found.append(("httpx", node.lineno))
            elif module == "socket" and "create_connection" in names:
                found.append(("socket.create_connection", node.lineno))
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            if node.value.id == "httpx" and node.attr in HTTPX_ENTRY_POINTS:
                found.append(("httpx", node.lineno))
            elif node.value.id == "socket" and node.attr == "create_connection":
                found.append(("socket.create_connection", node.lineno))
    return found


def sources() -> list[Path]:
    return sorted(
        p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py") if ".venv" not in p.parts
    )


def test_no_raw_http_clients_outside_the_guard() -> None:
    offenders = []
    for path in sources():
        rel = path.relative_to(ROOT).as_posix()
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=rel)
        for what, line in uses(tree):
            if not _allowed(what, rel):
                offenders.append(f"{rel}:{line}: {what}")
    assert not offenders, (
        "outbound HTTP must go through pipeline.sources.http (fetch_url / GuardedClient):\n"
        + "\n".join(offenders)
    )


def test_the_walker_sees_the_guarded_client() -> None:
    tree = ast.parse((ROOT / "pipeline/sources/http.py").read_text(encoding="utf-8"))
    assert {what for what, _ in uses(tree)} >= {"httpx", "httpcore"}


@pytest.mark.parametrize(
    "code",
    [
        "import requests",
        "import urllib.request",
        "from urllib import request",
        "from urllib.request import urlopen",
        "import urllib3",
        "import aiohttp",
        "from http import client",
        "import http.client",
        "import httpx\nhttpx.get('http://x')",
        "import httpx\nhttpx.Client()",
        "from httpx import AsyncClient",
        "import httpcore",
        "import boto3",
        "import socket\nsocket.create_connection(('x', 80))",
    ],
)
def test_the_walker_catches(code: str) -> None:
    assert uses(ast.parse(code)), code


@pytest.mark.parametrize(
    "code", ["import httpx\nhttpx.Timeout(3)", "from httpx import HTTPError", "import urllib.parse"]
)
def test_the_walker_allows_harmless_names(code: str) -> None:
    assert uses(ast.parse(code)) == []
