"""One error mapping for every HTTP route (intaj/http/errors.py): each error class of
core/errors.py has exactly one status, the one docs/api.md documents; and the app's OpenAPI
schema declares, route by route, the statuses docs/api.md lists, each error with our one body.
(tests/test_api_schema.py checks that the app answers as its schema says.)"""

from __future__ import annotations

import inspect
import re
from pathlib import Path
from typing import Any

import pytest
from psycopg_pool import ConnectionPool

from core import errors
from core.settings import Settings
from intaj.http import create_app
from intaj.http.errors import STATUS, status_of
from tests.fix_api import api_settings

DOC = Path(__file__).resolve().parent.parent / "docs" / "api.md"


def error_classes() -> list[type[errors.IntajError]]:
    return [
        c for _, c in inspect.getmembers(errors, inspect.isclass)
        if issubclass(c, errors.IntajError) and c.__module__ == errors.__name__
    ]  # fmt: skip


def documented() -> dict[str, int]:
    rows = re.findall(r"^\| `(\w+)` \| (\d{3}) \|", DOC.read_text(encoding="utf-8"), re.MULTILINE)
    return {name: int(status) for name, status in rows}


def test_every_error_class_has_its_own_status_and_the_docs_say_which() -> None:
    classes = error_classes()
    assert len(classes) >= 14
    assert set(STATUS) == set(classes)  # listed one by one: no class gets a status by accident
    assert {c.__name__: STATUS[c] for c in classes} == documented()


def test_an_error_replies_with_its_class_status_and_a_subclass_with_the_nearest() -> None:
    class LateError(errors.NotFoundError):  # a class defined elsewhere, not in the table
        pass

    assert status_of(errors.OriginError("not an origin")) == 400
    assert status_of(errors.RateLimitedError("slow down", retry_after=3)) == 429
    assert status_of(LateError("gone")) == 404


EVERY_ROUTE = {413, 503}  # the body limit, the database: any route (docs/api.md says so)
PARAM = re.compile(r"{\w+}")
ROW = re.compile(r"^\| `(GET|POST|PUT|OPTIONS) (/\S*)` \| (\d{3}(?:, \d{3})*) \|$", re.MULTILINE)


def documented_statuses() -> dict[str, set[int]]:
    """docs/api.md's "Statuses by route": ``"POST /v1/chatbots/{}/search"`` -> statuses."""
    text = DOC.read_text(encoding="utf-8")
    return {
        f"{method} {PARAM.sub('{}', path)}": {int(s) for s in statuses.split(", ")}
        for method, path, statuses in ROW.findall(text)
    }


@pytest.fixture(scope="module")
def openapi(settings: Settings, pool: ConnectionPool) -> dict[str, Any]:
    return create_app(api_settings(settings), pool=pool).openapi()


def operations(schema: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        f"{method.upper()} {PARAM.sub('{}', path)}": operation
        for path, item in schema["paths"].items()
        for method, operation in item.items()
        if "whatsapp" not in path  # documented in docs/whatsapp.md
    }


def test_the_schema_declares_each_status_of_each_route_as_the_docs_list_them(
    openapi: dict[str, Any],
) -> None:
    declared = {
        name: {int(s) for s in op["responses"]} - EVERY_ROUTE
        for name, op in operations(openapi).items()
    }
    assert declared == documented_statuses()
    assert all({int(s) for s in op["responses"]} >= EVERY_ROUTE
               for op in operations(openapi).values())  # fmt: skip


def test_every_declared_error_has_our_one_body_and_streams_say_so(
    openapi: dict[str, Any],
) -> None:
    error = {"$ref": "#/components/schemas/ErrorBody"}
    for name, op in operations(openapi).items():
        for status, response in op["responses"].items():
            if int(status) >= 400 and status != "409":  # 409: the change's fields and error
                assert response["content"] == {"application/json": {"schema": error}}, name
    conflict = openapi["components"]["schemas"]["LanguageConflictOut"]
    assert conflict["properties"]["error"] == {"$ref": "#/components/schemas/ErrorInfo"}
    assert "HTTPValidationError" not in openapi["components"]["schemas"]
    for name in ("POST /v1/chatbots/{}/messages", "POST /v1/widgets/{}/messages"):
        stream = operations(openapi)[name]["responses"]["200"]["content"]["text/event-stream"]
        events = [e["properties"]["event"]["const"] for e in stream["schema"]["oneOf"]]
        assert events == ["delta", "done", "error"]
    widget = operations(openapi)["POST /v1/widgets/{}/messages"]["responses"]["200"]
    assert set(widget["content"]) == {"text/event-stream"}  # the widget never answers JSON
    assert "401" in operations(openapi)["POST /v1/webhooks/database"]["responses"]
    body = operations(openapi)["POST /v1/webhooks/database"]["requestBody"]
    assert (
        body["required"] and "record" in body["content"]["application/json"]["schema"]["properties"]
    )
