"""One rule each for "is this an id" and "is this a URL" (core/ids.py), used by the CLI's
chatbot lookup, the API's auth, the widget routes, the trigger and source registration."""

from __future__ import annotations

import uuid

import pytest

from core.ids import is_url, is_uuid

ID = str(uuid.uuid4())


@pytest.mark.parametrize(
    ("value", "expected"),
    [(ID, True), (ID.upper(), True), (ID.replace("-", ""), False), ("{" + ID + "}", False),
     ("urn:uuid:" + ID, False), ("support", False), ("", False)],
)  # fmt: skip
def test_only_the_canonical_form_is_an_id(value: str, expected: bool) -> None:
    # a chatbot named with 32 hex digits is looked up by name, not taken for an id
    assert is_uuid(value) is expected


@pytest.mark.parametrize(
    ("ref", "expected"),
    [("https://shop.example/faq", True), ("HTTP://SHOP.EXAMPLE", True), ("http:/x", False),
     ("ftp://shop.example", False), ("docs/https://x.pdf", False), ("policy.pdf", False)],
)  # fmt: skip
def test_only_http_and_https_references_are_urls(ref: str, expected: bool) -> None:
    assert is_url(ref) is expected
