"""Content-Encoding of an HTTP response body, decoded in bounded steps: gzip and deflate (also
deflate sent without its zlib header), several stacked, a few at most, never more than
``CHUNK`` bytes out of one step (a small body cannot inflate past the size budget unseen)."""

from __future__ import annotations

import zlib
from collections.abc import Iterator, Sequence

from core.errors import SourceError

MAX_ENCODINGS = 5
CHUNK = 64 * 1024


class Inflate:
    """One content-encoding step that never produces more than ``CHUNK`` bytes at a time."""

    def __init__(self, encoding: str):
        self._wbits = 16 + zlib.MAX_WBITS if encoding in ("gzip", "x-gzip") else zlib.MAX_WBITS
        self._z = zlib.decompressobj(self._wbits)
        self._started = False

    def feed(self, data: bytes) -> Iterator[bytes]:
        while True:
            try:
                out = self._z.decompress(data, CHUNK)
            except zlib.error as e:
                if self._started or self._wbits != zlib.MAX_WBITS:
                    raise SourceError(
                        f"the response body does not decode ({e})", code="fetch_failed"
                    ) from e
                self._wbits = -zlib.MAX_WBITS  # "deflate" sent without the zlib header
                self._z = zlib.decompressobj(self._wbits)
                continue
            self._started = True
            if out:
                yield out
            data = self._z.unconsumed_tail
            if self._z.eof and self._z.unused_data:  # a further gzip member
                data = self._z.unused_data
                self._z = zlib.decompressobj(self._wbits)
            elif not data and len(out) < CHUNK:
                return


def decoders(encodings: Sequence[str]) -> list[Inflate]:
    names = [e.strip().lower() for e in encodings if e.strip().lower() not in ("", "identity")]
    if len(names) > MAX_ENCODINGS:
        raise SourceError(f"the response has {len(names)} content encodings", code="fetch_failed")
    unknown = [n for n in names if n not in ("gzip", "x-gzip", "deflate")]
    if unknown:
        raise SourceError(
            f"the server sent an unsupported content encoding {unknown[0]!r}", code="fetch_failed"
        )
    return [Inflate(n) for n in reversed(names)]


def through(stages: Sequence[Inflate], data: bytes) -> Iterator[bytes]:
    if not stages:
        yield data
        return
    for piece in stages[0].feed(data):
        yield from through(stages[1:], piece)
