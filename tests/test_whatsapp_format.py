"""The WhatsApp channel's pure parts: a reply as WhatsApp shows it (formatting, citations,
links, 4,096-character parts), what a delivery holds, what a Graph API reply means, and the
signature check."""

from __future__ import annotations

import json

import httpx
import pytest

from core.errors import AuthError, EventError, ForbiddenError
from core.types import Answer, Citation
from intaj.http.whatsapp import check_signature, parse
from intaj.whatsapp.graph import outcome
from intaj.whatsapp.reply import MAX_CHARS, reply_text, split, whatsapp_format
from tests.servers.graph_api import delivery, signature, text_message


def cited(text: str, *citations: Citation) -> Answer:
    return Answer(answer=text, citations=citations, confidence=0.8, abstained=False)


def citation(number: int, source: str, **metadata: object) -> Citation:
    return Citation(number, source, dict(metadata), "snippet", 0.8)


def test_markdown_becomes_whatsapp_formatting() -> None:
    text = "# Late returns\n\n**Five euros** an hour, *per bike*, ~~no~~ cap.\n* one\n+ two"
    assert whatsapp_format(text) == (
        "*Late returns*\n\n*Five euros* an hour, _per bike_, ~no~ cap.\n- one\n- two"
    )
    assert whatsapp_format("[the terms](https://shop.example/terms)") == (
        "the terms (https://shop.example/terms)"
    )


def test_citations_are_plain_text_with_pages_and_allowed_links_only() -> None:
    answer = cited(
        "Late returns cost 5 euros an hour [1] and see [our page](https://evil.example/x) [2].",
        citation(1, "bot/docs/handbook.pdf", page=3),
        citation(2, "https://evil.example/prices", title="Price list"),
    )
    text = reply_text(answer, allow_hosts=("shop.example",), chatbot_language="en")
    assert "evil.example" not in text
    assert text.endswith("*Sources:*\n[1] handbook.pdf, p. 3\n[2] Price list")
    allowed = cited("See [1].", citation(1, "https://shop.example/prices", title="Prices"))
    shown = reply_text(allowed, allow_hosts=("shop.example",), chatbot_language="en")
    assert shown.endswith("[1] https://shop.example/prices")


def test_an_arabic_answer_gets_arabic_labels_and_no_bidi_controls() -> None:
    answer = cited(
        "يمكنك إرجاع الدراجة خلال أربعة عشر يومًا [1]\u202e.", citation(1, "x/شروط.pdf", page=2)
    )
    text = reply_text(answer, allow_hosts=(), chatbot_language="ar")
    assert "\u202e" not in text
    assert text.endswith("*المصادر:*\n[1] شروط.pdf, ص 2")


def test_long_answers_are_split_between_paragraphs_under_the_limit() -> None:
    paragraph = ("Bikes are great. " * 60).strip()
    text = "\n\n".join([paragraph] * 8)
    parts = split(text)
    assert len(parts) > 1 and all(len(p) <= MAX_CHARS for p in parts)
    assert all(p == paragraph or "\n\n" in p for p in parts)
    assert " ".join(" ".join(parts).split()) == " ".join(text.split())
    assert split("x" * (MAX_CHARS * 2 + 5)) == ["x" * MAX_CHARS] * 2 + ["x" * 5]
    assert split("short") == ["short"] and split("  ") == []


def test_a_delivery_is_read_into_messages_statuses_and_numbers() -> None:
    messages = [
        text_message("wamid.1", "111", "Hello?"),
        {"from": "111", "id": "wamid.2", "type": "image", "image": {"id": "m"}},
        {"from": "111", "id": "wamid.3", "type": "text", "text": {"body": "   "}},
        {"from": "111", "id": "wamid.4", "type": "system", "system": {"body": "changed"}},
        {"from": "111", "id": "wamid.5", "type": "interactive",
         "interactive": {"type": "button_reply", "button_reply": {"id": "b", "title": "Prices"}}},
    ]  # fmt: skip
    statuses = [{"id": "wamid.out", "status": "read", "timestamp": "1700000000",
                 "recipient_id": "111"}]  # fmt: skip
    read = parse(delivery("42", messages, statuses))
    assert read.phone_number_ids == {"42"}
    assert [(m.wa_message_id, m.kind, m.body) for m in read.messages] == [
        ("wamid.1", "text", "Hello?"), ("wamid.2", "image", None), ("wamid.3", "empty", None),
        ("wamid.5", "text", "Prices"),
    ]  # fmt: skip
    (status,) = read.statuses
    assert status.status == "read" and status.at is not None and status.at.year == 2023


@pytest.mark.parametrize(
    "body, field",
    [
        ({"object": "x", "entry": "nope"}, "entry"),
        ({"object": "x", "entry": [{"changes": [{"field": "messages", "value": {
            "messages": [{"from": "1", "id": "a\u0000b", "type": "text"}]}}]}]}, "id"),
        ({"entry": []}, "object"),
    ],
)  # fmt: skip
def test_a_malformed_delivery_names_its_field(body: object, field: str) -> None:
    with pytest.raises(EventError, match=field):
        parse(json.dumps(body).encode())


def test_the_signature_is_checked_over_the_raw_bytes() -> None:
    body = delivery("42", [text_message("wamid.1", "111", "Hi")])
    check_signature("secret", signature("secret", body), body)
    with pytest.raises(AuthError):
        check_signature("secret", None, body)
    for wrong in (signature("other", body), signature("secret", body)[:-1], "sha256="):
        with pytest.raises(ForbiddenError):
            check_signature("secret", wrong, body)
    with pytest.raises(ForbiddenError):
        check_signature("secret", signature("secret", body), body + b" ")


def reply(status: int, body: object, **headers: str) -> httpx.Response:
    return httpx.Response(status, json=body, headers=headers)


def test_graph_replies_say_what_to_retry() -> None:
    sent = outcome(reply(200, {"messages": [{"id": "wamid.out"}]}))
    assert sent.message_id == "wamid.out"
    throttled = outcome(
        reply(429, {"error": {"code": 4, "message": "slow"}}, **{"Retry-After": "7"})
    )
    assert throttled.retry and throttled.wait == 7.0
    assert outcome(reply(400, {"error": {"code": 130429, "message": "rate"}})).retry
    assert outcome(reply(502, {})).retry
    window = outcome(reply(400, {"error": {"code": 131047, "message": "Re-engagement"}}))
    assert not window.retry and "131047" in (window.error or "")
    assert not outcome(reply(401, {"error": {"code": 190, "message": "expired"}})).retry
