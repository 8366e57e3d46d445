"""Checks on a ZIP container (DOCX and friends) made before any parser opens it.

The central directory is read without inflating anything; an archive is rejected
(``archive_rejected``) when it declares more than a parser should ever inflate. Then every part
is streamed once with a bounded read and refused (``doctype_forbidden``) if it carries a
``<!DOCTYPE``: OOXML parts never need one, and a DTD is where external and expanding entities
(XXE, billion laughs) live.

Reading stays bounded because CPython's ``ZipExtFile`` never yields more than an entry's
declared ``file_size``, and those sizes are what the first check caps.
"""

from __future__ import annotations

import io
import struct
import zipfile
from dataclasses import dataclass
from itertools import pairwise

from core.errors import ParseError

MB = 1024 * 1024
_EOCD = b"PK\x05\x06"
_CHUNK = 1 * MB
_DOCTYPE = tuple("<!doctype".encode(encoding) for encoding in ("utf-8", "utf-16-le", "utf-16-be"))


@dataclass(frozen=True, slots=True)
class ZipLimits:
    max_entry_bytes: int = 128 * MB
    max_total_bytes: int = 512 * MB
    max_ratio: float = 100.0
    ratio_min_bytes: int = 8 * MB  # the ratio check applies to entries at least this big
    max_entries: int = 10_000


def _rejected(name: str, why: str) -> ParseError:
    return ParseError(
        f"{name} was rejected: {why}; this looks like a zip bomb or a damaged file, "
        "re-save it from the original application",
        code="archive_rejected",
    )


def _declared_entries(data: bytes) -> int | None:
    """The entry count from the end-of-central-directory record, if there is one."""
    at = data.rfind(_EOCD, max(0, len(data) - 65_557))
    if at < 0 or at + 22 > len(data):
        return None
    count: int = struct.unpack_from("<H", data, at + 10)[0]
    return None if count == 0xFFFF else count  # 0xFFFF: ZIP64, zipfile reads the real count


def _check_no_overlap(infos: list[zipfile.ZipInfo], size: int, name: str) -> None:
    """Refuse entries whose data overlap (the "quoted-overlap" zip bomb, CVE-2024-0450): the
    Python 3.11.7 that runs here predates zipfile's own check."""
    spans = sorted((i.header_offset, i.header_offset + i.compress_size, i.filename) for i in infos)
    for (start, end, part), (next_start, _, _) in pairwise(spans):
        if end > next_start or start == next_start:
            raise _rejected(name, f"part {part!r} overlaps the next entry")
    if sum(i.compress_size for i in infos) > size:
        raise _rejected(name, "its entries claim more compressed data than the file holds")


def check_central_directory(data: bytes, name: str, limits: ZipLimits = ZipLimits()) -> None:
    """Raise ``archive_rejected`` if the archive declares too many or too big entries."""
    declared = _declared_entries(data)
    if declared is not None and declared > limits.max_entries:
        raise _rejected(name, f"{declared} entries (the limit is {limits.max_entries})")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            infos = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError) as e:
        raise ParseError(
            f"{name} is not a readable ZIP container ({e}); re-save it from the original "
            "application",
            code="unparseable_archive",
        ) from e
    if len(infos) > limits.max_entries:
        raise _rejected(name, f"{len(infos)} entries (the limit is {limits.max_entries})")
    total = 0
    for info in infos:
        size = info.file_size
        if size > limits.max_entry_bytes:
            raise _rejected(name, f"part {info.filename!r} declares {size // MB} MB uncompressed")
        ratio = size / max(info.compress_size, 1)
        if size >= limits.ratio_min_bytes and ratio > limits.max_ratio:
            raise _rejected(name, f"part {info.filename!r} compresses {ratio:.0f}:1")
        total += size
        if total > limits.max_total_bytes:
            raise _rejected(name, f"parts declare over {limits.max_total_bytes // MB} MB in all")
    _check_no_overlap(infos, len(data), name)


def _has_doctype(stream: io.BufferedIOBase) -> bool:
    tail = b""
    while chunk := stream.read(_CHUNK):
        window = (tail + chunk).lower()
        if any(marker in window for marker in _DOCTYPE):
            return True
        tail = window[-32:]
    return False


def check_no_doctype(data: bytes, name: str) -> None:
    """Raise ``doctype_forbidden`` if any part of the archive contains ``<!DOCTYPE``.

    Call :func:`check_central_directory` first: it is what bounds these reads.
    """
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            for info in archive.infolist():
                with archive.open(info) as part:
                    if _has_doctype(part):  # type: ignore[arg-type]
                        raise ParseError(
                            f"{name} was rejected: part {info.filename!r} declares a DOCTYPE, "
                            "which Office files never need (it can smuggle external entities); "
                            "re-save the document from Word or export it to PDF",
                            code="doctype_forbidden",
                        )
    except (zipfile.BadZipFile, NotImplementedError, ValueError, OSError, EOFError) as e:
        raise ParseError(
            f"{name} has a damaged ZIP part ({e}); re-save it from the original application",
            code="unparseable_archive",
        ) from e


def check_archive(data: bytes, name: str, limits: ZipLimits = ZipLimits()) -> None:
    """Both checks, cheapest first."""
    check_central_directory(data, name, limits)
    check_no_doctype(data, name)
