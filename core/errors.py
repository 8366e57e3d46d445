"""The error tree. Every error we raise is an :class:`IntajError`.

    IntajError
    ├── ConfigError          settings or names that do not resolve (unknown backend, model...)
    ├── DatabaseError        the database cannot be reached or migrated
    ├── NotFoundError        a chatbot, source or FAQ that does not exist (for this owner)
    ├── SourceError          fetching bytes from storage or a URL        (stage: fetch)
    ├── ParseError           a document that cannot be turned into text  (stage: parse)
    ├── EmbeddingError       the embedding provider failed               (stage: embed)
    ├── StoreError           writing chunks failed                       (stage: store)
    ├── GenerationError      the LLM failed to answer                    (stage: generate)
    ├── AuthError            an API request without valid credentials
    ├── AuthUnavailableError the signing keys to check a token cannot be fetched
    ├── ForbiddenError       a request this caller may not make here (a widget off its sites)
    ├── RateLimitedError     too many requests; ``retry_after`` seconds to wait
    ├── PlanLimitError       over a limit of the owner's plan (the limit, usage and plan named)
    └── InputError           input that can never work as given
        ├── OriginError      not a web origin (``scheme://host[:port]``)
        └── EventError       a webhook event of the wrong shape (its field named)

Each carries a stable ``code`` (for ``data_sources.error`` and API replies) and a message that
says what went wrong and what to do. ``transient`` marks errors worth retrying. The HTTP status
of each is in one table, ``intaj/http/errors.py`` (documented in docs/api.md).
"""

from __future__ import annotations


class IntajError(Exception):
    code = "error"
    transient = False

    def __init__(self, message: str, *, code: str | None = None, transient: bool | None = None):
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if transient is not None:
            self.transient = transient

    def __str__(self) -> str:
        return self.message


class ConfigError(IntajError):
    code = "config_invalid"


class DatabaseError(IntajError):
    code = "database_unavailable"
    transient = True


class NotFoundError(IntajError):
    code = "not_found"


class SourceError(IntajError):
    code = "source_unavailable"


class ParseError(IntajError):
    code = "unparseable"


class EmbeddingError(IntajError):
    code = "embedding_failed"


class StoreError(IntajError):
    code = "store_failed"
    transient = True


class GenerationError(IntajError):
    code = "generation_failed"
    transient = True


class AuthError(IntajError):
    code = "unauthorized"


class AuthUnavailableError(IntajError):
    code = "auth_unavailable"
    transient = True


class ForbiddenError(IntajError):
    code = "forbidden"


class RateLimitedError(IntajError):
    code = "rate_limited"
    transient = True

    def __init__(self, message: str, *, retry_after: int, code: str | None = None):
        super().__init__(message, code=code)
        self.retry_after = retry_after


class PlanLimitError(IntajError):
    """Work refused because it would take the owner past a limit of their plan
    (``pipeline/plans.py``): ``limit`` names it, ``usage`` is what they have, ``allowed`` the
    plan's number, ``plan`` the plan (``profiles.subscription``)."""

    code = "plan_limit"

    def __init__(self, message: str, *, limit: str, usage: int, allowed: int, plan: str):
        super().__init__(message)
        self.limit, self.usage, self.allowed, self.plan = limit, usage, allowed, plan


class InputError(IntajError):
    code = "invalid_request"


class OriginError(InputError, ValueError):
    code = "origin_invalid"


class EventError(InputError):
    code = "invalid_event"
