"""Which storage serves a path, by its scheme; and how upload keys are made."""

from __future__ import annotations

import re
import unicodedata
import uuid
from typing import Protocol

from core.errors import ConfigError
from core.settings import Settings
from core.types import Document
from pipeline.sources.local import LocalStorage


class Storage(Protocol):
    def read(self, key: str, *, max_bytes: int) -> Document: ...

    def write(self, key: str, data: bytes) -> str: ...

    def delete(self, key: str) -> None: ...


def _scheme(path: str) -> str:
    match = re.match(r"^([a-z][a-z0-9+.-]*)://", path)
    return match[1] if match else "local"


def storage_for(path: str, settings: Settings) -> Storage:
    """The backend that serves ``path``. Unknown schemes raise a ConfigError naming the valid
    ones."""
    scheme = _scheme(path)
    if scheme == "local":
        return LocalStorage(settings.resolved_storage_root)
    raise ConfigError(f"no storage backend for {scheme}:// paths; known: local (no scheme)")


def fetch(path: str, settings: Settings) -> Document:
    """The bytes of a data source."""
    return storage_for(path, settings).read(path, max_bytes=settings.max_file_bytes)


_UNSAFE = re.compile(r"[^A-Za-z0-9._ -]+")


def sanitise_name(name: str) -> str:
    """A display-safe file name: no directories, no control or odd characters, <= 120 chars."""
    name = unicodedata.normalize("NFKC", name).replace("\\", "/").split("/")[-1]
    name = _UNSAFE.sub("_", name).strip(" .")
    stem, dot, ext = name.rpartition(".")
    if not dot:
        stem, ext = name, ""
    stem = stem[: 120 - len(ext) - 1] or "file"
    return f"{stem}.{ext}" if ext else stem


def upload_key(chatbot_id: str, original_name: str) -> str:
    """The server-made storage key of an upload: ``{chatbot_id}/{uuid}/{sanitised name}``."""
    return f"{chatbot_id}/{uuid.uuid4()}/{sanitise_name(original_name)}"
