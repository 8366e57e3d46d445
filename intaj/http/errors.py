"""The one mapping from our errors to HTTP replies, and its declaration in OpenAPI. Every error
is an :class:`core.errors.IntajError`; its class decides the status (:data:`STATUS`, nearest
class first; docs/api.md lists it and tests/test_http_errors.py holds the two together), its
``code`` and message make the body ``{"error": {"code", "message"}}`` (:class:`ErrorBody`). A
route that must add headers to a refusal (the widget's CORS, ``Retry-After``) raises
:class:`Refusal` around the error. FastAPI's own validation errors are 422 ``invalid_request``;
a database that does not answer is 503 with ``Retry-After``; a method the path does not take is
405 with ``Allow`` (every method of the path); anything else is 500 ``internal_error`` (the
trace in the log only). Each route declares the statuses it can answer with :func:`responses`.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import psycopg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException
from starlette.routing import Match

from core import errors
from retrieval.schemas import error_body

log = logging.getLogger(__name__)

STATUS: dict[type[errors.IntajError], int] = {
    errors.IntajError: 500,
    errors.ConfigError: 500,  # the server's settings, not the request
    errors.DatabaseError: 503,
    errors.NotFoundError: 404,
    errors.SourceError: 502,
    errors.ParseError: 422,
    errors.EmbeddingError: 502,
    errors.StoreError: 503,
    errors.GenerationError: 502,
    errors.AuthError: 401,
    errors.AuthUnavailableError: 503,
    errors.ForbiddenError: 403,
    errors.RateLimitedError: 429,
    errors.PlanLimitError: 402,
    errors.InputError: 400,
    errors.OriginError: 400,
    errors.EventError: 422,
}
HTTP_CODES = {
    401: "unauthorized",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    503: "service_unavailable",
}


class ErrorDetail(BaseModel):
    loc: list[str]
    msg: str


class ErrorInfo(BaseModel):
    code: str
    message: str
    details: list[ErrorDetail] | None = None  # a 422 of request validation: field and reason


class ErrorBody(BaseModel):
    """Every error reply's body."""

    error: ErrorInfo


_HEADER = {"schema": {"type": "string"}}
_DESCRIBED: dict[int, tuple[str, dict[str, Any]]] = {
    400: ("Input that can never work as given", {}),
    401: (
        "No or invalid credentials (`unauthorized`)",
        {"WWW-Authenticate": {**_HEADER, "required": True}},
    ),
    402: ("Over a limit of the owner's plan (`plan_limit`: the limit, usage and plan named)", {}),
    403: ("Not allowed here (`origin_not_allowed`: a widget off its sites)", {}),
    404: ("No such resource, or not the caller's (`not_found`)", {}),
    409: ("The change could not be completed; nothing changed", {}),
    413: ("The request body is too large (`payload_too_large`)", {}),
    415: ("The body is not `application/json` (`unsupported_media_type`)", {}),
    422: (
        "The request is not valid (`invalid_request`, `invalid_json`, `invalid_event`)",
        {},
    ),
    429: (
        "Too many requests (`rate_limited`); retry after `Retry-After` seconds",
        {"Retry-After": {"schema": {"type": "integer"}, "required": True}},
    ),
    502: ("A service we call failed (`embedding_failed`, `generation_failed`)", {}),
    503: (
        "Unavailable for now (`database_unavailable`, `store_failed`, `auth_unavailable`,"
        " `service_unavailable`)",
        {"Retry-After": {"schema": {"type": "integer"}}},
    ),
}


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI ``responses`` of error ``statuses``: each with :class:`ErrorBody`."""
    declared: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        description, headers = _DESCRIBED[status]
        declared[status] = {"model": ErrorBody, "description": description}
        if headers:
            declared[status]["headers"] = headers
    return declared


def _validation_422(operation: dict[str, Any], error_ref: dict[str, str]) -> None:
    """FastAPI's own 422 of ``operation`` (``HTTPValidationError``, not our shape): our error
    body, or nothing where validation cannot fail (only plain text path parameters)."""
    declared = operation.get("responses", {}).get("422", {})
    schema = declared.get("content", {}).get("application/json", {}).get("schema", {})
    if not str(schema.get("$ref", "")).endswith("/HTTPValidationError"):
        return
    params = operation.get("parameters", [])
    plain = all(
        p.get("in") == "path" and set(p.get("schema", {})) <= {"type", "title"}
        and p["schema"].get("type") == "string"
        for p in params
    )  # fmt: skip
    if plain and "requestBody" not in operation:
        del operation["responses"]["422"]
    else:
        description = _DESCRIBED[422][0]
        content = {"application/json": {"schema": error_ref}}
        operation["responses"]["422"] = {"description": description, "content": content}


def declare_errors(app: FastAPI) -> None:
    """``app``'s OpenAPI schema with every error in our shape (see :func:`_validation_422`)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = generate()
        components = schema.get("components", {}).get("schemas", {})
        if "ErrorBody" in components:
            for path in schema.get("paths", {}).values():
                for operation in path.values():
                    _validation_422(operation, {"$ref": "#/components/schemas/ErrorBody"})
            if "HTTPValidationError" not in json.dumps(schema["paths"]):
                components.pop("HTTPValidationError", None)
                components.pop("ValidationError", None)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def status_of(error: errors.IntajError) -> int:
    """The status of ``error``: its class's, else its nearest listed ancestor's."""
    return next(STATUS[cls] for cls in type(error).__mro__ if cls in STATUS)


class Refusal(Exception):
    """An error whose reply needs headers of the route's (CORS, ``Retry-After``)."""

    def __init__(self, error: errors.IntajError, headers: dict[str, str] | None = None) -> None:
        super().__init__(error.message)
        self.error, self.headers = error, dict(headers or {})


def reply(error: errors.IntajError, headers: dict[str, str] | None = None) -> JSONResponse:
    status = status_of(error)
    if status >= 500:
        log.warning("%s: %s", error.code, error.message)
    extra = dict(headers or {})
    if status == 401:
        extra.setdefault("WWW-Authenticate", "Bearer")
    if isinstance(error, errors.RateLimitedError):
        extra.setdefault("Retry-After", str(error.retry_after))
    return JSONResponse(error_body(error.code, error.message), status, headers=extra or None)


METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def allowed_methods(request: Request) -> str:
    """Every method some route takes at ``request``'s path (a path may have several routes,
    some in included routers): those with which a route would match it fully."""
    routes = request.app.router.routes
    allowed = [
        method for method in METHODS
        if any(r.matches({**request.scope, "method": method})[0] == Match.FULL for r in routes)
    ]  # fmt: skip
    return ", ".join(allowed)


def install(app: FastAPI) -> None:
    """Reply to every error raised by ``app``'s routes by this module's rules, and say so in
    its OpenAPI schema."""
    declare_errors(app)

    @app.exception_handler(errors.IntajError)
    async def intaj_error(request: Request, exc: errors.IntajError) -> JSONResponse:
        return reply(exc)

    @app.exception_handler(Refusal)
    async def refused(request: Request, exc: Refusal) -> JSONResponse:
        return reply(exc.error, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        details = [
            {"loc": [str(p)[:64] for p in e.get("loc", ())], "msg": e.get("msg", "")}
            for e in exc.errors()[:10]
        ]  # never the input itself
        body = error_body("invalid_request", "the request is not valid", details=details)
        return JSONResponse(body, 422)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        code = HTTP_CODES.get(exc.status_code, "http_error")
        headers = dict(exc.headers or {})
        if exc.status_code == 405:  # which methods the path takes: all its routes'
            headers["Allow"] = allowed_methods(request) or headers.get("Allow", "")
        if exc.status_code == 401:
            headers.setdefault("WWW-Authenticate", "Bearer")
        return JSONResponse(error_body(code, str(exc.detail)), exc.status_code, headers or None)

    @app.exception_handler(psycopg.OperationalError)
    async def database_down(request: Request, exc: psycopg.OperationalError) -> JSONResponse:
        # a dropped connection, a restarting server, no pooled connection in time: the pool
        # reconnects, so the caller may retry
        log.warning("database unavailable on %s: %s", request.url.path, exc)
        body = error_body("database_unavailable", "the database does not answer; retry shortly")
        return JSONResponse(body, 503, headers={"Retry-After": "1"})

    @app.exception_handler(Exception)
    async def internal(request: Request, exc: Exception) -> JSONResponse:
        log.error("unhandled error on %s", request.url.path, exc_info=exc)
        return JSONResponse(error_body("internal_error", "internal error; see the log"), 500)
