"""The request limits every route shares (ASGI middleware), checked before any route runs:

    413 payload_too_large        a body over INTAJ_API_MAX_BODY_BYTES (from Content-Length
                                 before reading, else as soon as the read passes it)
    415 unsupported_media_type   a body sent as anything but JSON (``application/json`` or
                                 ``*+json``; a body without Content-Type is read as JSON)
    422 invalid_request          JSON nested deeper than ``max_depth`` levels
    422 invalid_json             a body that is not JSON: not UTF-8, a syntax error, NaN or
                                 Infinity, or a lone surrogate (``"\\ud800"``)

The last three apply to the bodies of POST, PUT and PATCH, the methods whose routes read them.
"""

from __future__ import annotations

import json
import re
from email.message import Message as MimeMessage
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from retrieval.schemas import error_body

BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


class RequestLimits:
    """ASGI middleware: the limits of this module's docstring, each refused with our error
    body (``{"error": {"code", "message"}}``)."""

    def __init__(self, app: ASGIApp, *, max_body_bytes: int, max_depth: int) -> None:
        self.app, self.max_body_bytes, self.max_depth = app, max_body_bytes, max_depth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        length = headers.get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_body_bytes):
            await reply(send, 413, "payload_too_large", self._too_large)
            return
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            body += message.get("body", b"")
            if len(body) > self.max_body_bytes:
                await reply(send, 413, "payload_too_large", self._too_large)
                return
            if not message.get("more_body", False):
                break
        if body and scope["method"] in BODY_METHODS:
            refused = self._refusal(headers.get(b"content-type"), bytes(body))
            if refused is not None:
                await reply(send, *refused)
                return
        await self.app(scope, _replay(bytes(body), receive), send)

    def _refusal(self, content_type: bytes | None, body: bytes) -> tuple[int, str, str] | None:
        if content_type is not None and not is_json_type(content_type.decode("latin-1")):
            return 415, "unsupported_media_type", "send the body as application/json"
        if json_depth(body) > self.max_depth:
            text = f"the JSON body is nested deeper than {self.max_depth} levels"
            return 422, "invalid_request", text
        problem = json_problem(body)
        return None if problem is None else (422, "invalid_json", problem)

    @property
    def _too_large(self) -> str:
        return f"the request body is larger than {self.max_body_bytes} bytes"


def is_json_type(content_type: str) -> bool:
    """Whether a Content-Type is JSON's: ``application/json`` or ``application/*+json``."""
    parsed = MimeMessage()
    parsed["content-type"] = content_type
    if parsed.get_content_maintype() != "application":
        return False
    subtype = parsed.get_content_subtype()
    return subtype == "json" or subtype.endswith("+json")


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def json_problem(body: bytes) -> str | None:
    """Why ``body`` is not a JSON text (RFC 8259: UTF-8, no NaN or Infinity, and here no lone
    surrogate, which no database column can hold), or None when it is one."""
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError:
        return "the body is not valid JSON: it is not UTF-8"
    try:
        value = json.loads(text, parse_constant=_no_constants)
    except json.JSONDecodeError as e:
        return f"the body is not valid JSON: {e.msg} (line {e.lineno}, column {e.colno})"
    except ValueError as e:
        return f"the body is not valid JSON: {e}"
    if _SURROGATE_ESCAPE.search(text):
        try:
            json.dumps(value, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            return "the body is not valid JSON: it holds a lone surrogate (\\ud800-\\udfff)"
    return None


async def reply(send: Send, status: int, code: str, message: str) -> None:
    payload = json.dumps(error_body(code, message)).encode()
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode()),
        (b"connection", b"close"),
    ]})  # fmt: skip
    await send({"type": "http.response.body", "body": payload})


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()  # disconnect notices, for streamed responses

    return replay


def json_depth(data: bytes) -> int:
    """How deeply ``[``/``{`` nest in ``data`` (outside strings); any bytes."""
    brackets = data.count(b"[") + data.count(b"{")
    if brackets <= 1:
        return brackets  # an upper bound is enough here
    depth = deepest = 0
    in_string = escaped = False
    for byte in data:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):
            depth += 1
            deepest = max(deepest, depth)
        elif byte in (0x5D, 0x7D):
            depth -= 1
    return deepest
