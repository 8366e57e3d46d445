"""A local directory as storage, confined to its root (no ``..``, no symlinks out of it)."""

from __future__ import annotations

import errno
import os
from pathlib import Path

from core.errors import SourceError
from core.types import Document


class LocalStorage:
    scheme = "local"

    def __init__(self, root: Path):
        self.root = root

    def _resolve(self, key: str) -> Path:
        key = key.removeprefix("local://")
        if "\x00" in key:
            raise SourceError("storage key contains a NUL byte", code="forbidden")
        root = self.root.resolve()
        target = (root / key).resolve()
        if target != root and root not in target.parents:
            raise SourceError(
                f"storage key {key!r} points outside the storage root", code="forbidden"
            )
        return target

    def read(self, key: str, *, max_bytes: int) -> Document:
        path = self._resolve(key)
        if not path.is_file():
            raise SourceError(
                f"no stored file at {key!r}: upload it again or remove the data source",
                code="source_missing",
            )
        size = path.stat().st_size
        if size > max_bytes:
            raise SourceError(
                f"{path.name} is {size} bytes, over the limit of {max_bytes}"
                " (INTAJ_MAX_FILE_BYTES)",
                code="source_too_large",
            )
        return Document(data=path.read_bytes(), name=path.name)

    def write(self, key: str, data: bytes) -> str:
        path = self._resolve(key)
        tmp = path.with_name(path.name + ".part")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_bytes(data)
            os.replace(tmp, path)
        except OSError as e:
            tmp.unlink(missing_ok=True)  # a failed write leaves no partial file behind
            if e.errno == errno.EFBIG:
                raise SourceError(
                    f"{path.name} ({len(data)} bytes) is larger than this process may write"
                    " (its file size limit, ulimit -f); nothing was stored.",
                    code="source_too_large",
                ) from e
            if e.errno in (errno.ENOSPC, errno.EDQUOT):
                raise SourceError(
                    f"no room to store {path.name} ({len(data)} bytes) under {self.root}:"
                    f" {e.strerror}. Free disk space (or raise the quota), then upload again;"
                    " a previously stored version is kept.",
                    code="disk_full",
                ) from e
            raise SourceError(
                f"cannot store {path.name} under {self.root}: {e.strerror}", code="storage_failed"
            ) from e
        return key

    def delete(self, key: str) -> None:
        path = self._resolve(key)
        path.unlink(missing_ok=True)
