"""Which storage serves a path, by its scheme; and how upload keys are made."""

from __future__ import annotations

import re
import unicodedata
import uuid
from collections.abc import Callable
from typing import Protocol

from core.errors import ConfigError, SourceError
from core.settings import Settings
from core.types import Document
from pipeline.sources.local import LocalStorage


class Storage(Protocol):
    def read(self, key: str, *, max_bytes: int) -> Document: ...

    def write(self, key: str, data: bytes) -> str: ...

    def delete(self, key: str) -> None: ...


def _scheme(path: str) -> str:
    match = re.match(r"^([a-z][a-z0-9+.-]*)://", path, re.IGNORECASE)
    return match[1].lower() if match else "local"


def _local(settings: Settings) -> Storage:
    return LocalStorage(settings.resolved_storage_root)


def _s3(settings: Settings) -> Storage:
    from pipeline.sources.s3 import S3Storage

    return S3Storage(settings)


def _supabase(settings: Settings) -> Storage:
    from pipeline.sources.supabase import SupabaseStorage

    return SupabaseStorage(settings)


def _http(settings: Settings) -> Storage:
    from pipeline.sources.http import HttpStorage

    return HttpStorage(settings)


BACKENDS: dict[str, Callable[[Settings], Storage]] = {
    "local": _local,
    "s3": _s3,
    "supabase": _supabase,
    "http": _http,
    "https": _http,
}


def storage_for(path: str, settings: Settings) -> Storage:
    """The backend that serves ``path``. Unknown schemes raise a ConfigError naming the valid
    ones."""
    scheme = _scheme(path)
    factory = BACKENDS.get(scheme)
    if factory is None:
        known = ", ".join(f"{name}://" for name in BACKENDS if name != "local")
        raise ConfigError(
            f"no storage backend for {scheme}:// paths; known: {known} and plain keys (local)"
        )
    return factory(settings)


def fetch(path: str, settings: Settings) -> Document:
    """The bytes of a data source."""
    return storage_for(path, settings).read(path, max_bytes=settings.max_file_bytes)


def check_owner(path: str, chatbot_id: str) -> None:
    """Refuse (``forbidden``) a stored path that is not under ``chatbot_id``'s own prefix.

    Every storage key is ``{chatbot_id}/...`` (:func:`upload_key`; the storage webhook reads
    the chatbot from it), so a data source of chatbot B naming chatbot A's object -- a row
    written straight into ``data_sources``, say -- must not read it (test plan S4). Segments
    that a backend or URL could normalise (``..``, ``.``, empty) are refused too. URLs are not
    storage: they pass.
    """
    scheme = _scheme(path)
    if scheme in ("http", "https"):
        return
    key = path.removeprefix("local://") if scheme == "local" else path.split("://", 1)[1]
    if scheme != "local":
        key = key.partition("/")[2]  # after the bucket
    segments = key.split("/")
    odd = any(s in ("", ".", "..") or "\\" in s or "\x00" in s for s in segments)
    if odd or len(segments) < 2 or segments[0] != chatbot_id:
        raise SourceError(
            f"the stored file {path!r} does not belong to this chatbot (its key must start"
            f" with {chatbot_id}/); register the file again for this chatbot",
            code="forbidden",
        )


_UNSAFE = re.compile(r"[^A-Za-z0-9._ -]+")
_SAFE_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


def sanitise_name(name: str) -> str:
    """A display-safe file name: no directories, no control or odd characters, <= 120 chars."""
    name = unicodedata.normalize("NFKC", name).replace("\\", "/").split("/")[-1]
    name = re.sub(r"\.{2,}", ".", _UNSAFE.sub("_", name)).strip(" .")
    stem, dot, ext = name.rpartition(".")
    if not dot or len(ext) > 16:
        stem, ext = name, ""
    stem = stem[: 120 - len(ext) - 1].rstrip(" .") or "file"
    return f"{stem}.{ext}" if ext else stem


def upload_key(chatbot_id: str, original_name: str) -> str:
    """The server-made storage key of an upload: ``{chatbot_id}/{uuid}/{sanitised name}``."""
    if not _SAFE_ID.fullmatch(chatbot_id):
        raise ConfigError(f"{chatbot_id!r} is not a valid chatbot id for a storage key")
    return f"{chatbot_id}/{uuid.uuid4()}/{sanitise_name(original_name)}"
