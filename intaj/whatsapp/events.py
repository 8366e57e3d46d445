"""What Meta's webhook delivers, read strictly (pure: pydantic models and dataclasses).

A delivery (``{"object": "whatsapp_business_account", "entry": [{"changes": [{"field":
"messages", "value": {...}}]}]}``) holds inbound messages and delivery statuses, each change
naming the phone-number id it is for. Only the fields we use are typed (Meta adds fields;
those are ignored); text never holds a NUL byte, ids and lengths are bounded. :func:`read`
turns a delivery into :class:`Inbound` messages and :class:`StatusUpdate` s.
"""

# No `from __future__ import annotations`: pydantic reads the annotations at runtime.

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

MAX_TEXT = 65_536  # Meta caps a text message at 4,096 characters; a little slack
TEXT_TYPES = frozenset({"text", "button", "interactive"})
SILENT = frozenset({"system"})  # "the customer changed their number": nothing to answer


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


Id = Annotated[str, Field(min_length=1, max_length=256), AfterValidator(_no_nul)]
Word = Annotated[str, Field(min_length=1, max_length=64), AfterValidator(_no_nul)]
Body = Annotated[str, Field(max_length=MAX_TEXT), AfterValidator(_no_nul)]


class _Meta(BaseModel):
    model_config = ConfigDict(extra="ignore")


class TextPart(_Meta):
    body: Body


class Button(_Meta):
    text: Body | None = None


class Choice(_Meta):
    title: Body | None = None


class Interactive(_Meta):
    button_reply: Choice | None = None
    list_reply: Choice | None = None


class Message(_Meta):
    sender: Id = Field(alias="from")
    id: Id
    timestamp: Word | None = None
    type: Word
    text: TextPart | None = None
    button: Button | None = None
    interactive: Interactive | None = None


class Status(_Meta):
    id: Id
    status: Word
    timestamp: Word | None = None
    recipient_id: Id | None = None
    errors: list[dict[str, Any]] = Field(default_factory=list, max_length=20)


class Metadata(_Meta):
    phone_number_id: Id
    display_phone_number: Word | None = None


class Value(_Meta):
    metadata: Metadata | None = None
    messages: list[Message] = Field(default_factory=list, max_length=1000)
    statuses: list[Status] = Field(default_factory=list, max_length=1000)


class Change(_Meta):
    field: Word
    value: Value


class Entry(_Meta):
    id: Id | None = None
    changes: list[Change] = Field(default_factory=list, max_length=1000)


class Delivery(_Meta):
    """A webhook delivery (POST /v1/whatsapp/{connection_id}/webhook)."""

    object: Word
    entry: list[Entry] = Field(max_length=1000)


@dataclass(frozen=True, slots=True)
class Inbound:
    """An inbound message: text (``body``) or another kind (image, audio, ...: no body)."""

    wa_message_id: str
    sender: str
    kind: str
    body: str | None


@dataclass(frozen=True, slots=True)
class StatusUpdate:
    wa_message_id: str
    status: str
    recipient: str | None
    at: datetime | None
    errors: list[dict[str, Any]]


@dataclass(frozen=True, slots=True)
class Read:
    phone_number_ids: frozenset[str]
    messages: tuple[Inbound, ...]
    statuses: tuple[StatusUpdate, ...]


def _body(message: Message) -> str | None:
    """The text of a text message, or of a tapped reply button or list row."""
    if message.type == "text" and message.text is not None:
        return message.text.body
    if message.type == "button" and message.button is not None:
        return message.button.text
    if message.type == "interactive" and message.interactive is not None:
        choice = message.interactive.button_reply or message.interactive.list_reply
        return choice.title if choice else None
    return None


def _when(timestamp: str | None) -> datetime | None:
    if timestamp is None or not timestamp.isdigit() or len(timestamp) > 12:
        return None
    return datetime.fromtimestamp(int(timestamp), UTC)


def read(delivery: Delivery) -> Read:
    """The messages and statuses of every ``messages`` change, and the phone-number ids the
    changes name ("" for a change that names none). A text (or a tapped button) with only
    blank text is of kind ``empty``; system notices are left out."""
    numbers: set[str] = set()
    messages: list[Inbound] = []
    statuses: list[StatusUpdate] = []
    for entry in delivery.entry:
        for change in entry.changes:
            value = change.value
            if change.field != "messages":
                continue
            # a change that names no number is for no number we know
            numbers.add(value.metadata.phone_number_id if value.metadata else "")
            for m in value.messages:
                if m.type in SILENT:
                    continue
                body = _body(m)
                if body and body.strip():
                    kind = "text"
                else:  # a text, button or list reply without any text is "empty"
                    kind = "empty" if m.type in TEXT_TYPES else m.type
                messages.append(Inbound(m.id, m.sender, kind, body if kind == "text" else None))
            for s in value.statuses:
                at = _when(s.timestamp)
                statuses.append(StatusUpdate(s.id, s.status, s.recipient_id, at, s.errors))
    return Read(frozenset(numbers), tuple(messages), tuple(statuses))
