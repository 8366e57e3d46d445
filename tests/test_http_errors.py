"""One error mapping for every HTTP route (intaj/http/errors.py): each error class of
core/errors.py has exactly one status, the one docs/api.md documents."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

from core import errors
from intaj.http.errors import STATUS, status_of

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
