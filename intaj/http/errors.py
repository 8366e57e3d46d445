"""The one mapping from our errors to HTTP replies. Every error is an
:class:`core.errors.IntajError`; its class decides the status (:data:`STATUS`, nearest class
first; docs/api.md lists it and tests/test_http_errors.py holds the two together), its ``code``
and message make the body ``{"error": {"code", "message"}}``. A route that must add headers to
a refusal (the widget's CORS, ``Retry-After``) raises :class:`Refusal` around the error.
FastAPI's own validation errors are 422 ``invalid_request``; a database that does not answer is
503 with ``Retry-After``; anything else is 500 ``internal_error`` (the trace in the log only).
"""

from __future__ import annotations

import logging

import psycopg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

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
    errors.PlanLimitError: 402,  # over a limit of the owner's plan (docs/plans.md)
    errors.InputError: 400,
    errors.OriginError: 400,
    errors.EventError: 422,
}
HTTP_CODES = {
    401: "unauthorized",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    422: "invalid_request",
    503: "service_unavailable",
}


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


def install(app: FastAPI) -> None:
    """Reply to every error raised by ``app``'s routes by this module's rules."""

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
        # its headers too: a 405 says which methods the route takes (Allow)
        return JSONResponse(error_body(code, str(exc.detail)), exc.status_code, exc.headers)

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
