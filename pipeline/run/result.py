"""What happened to one source: the CLI prints it, the flows return it (as JSON, the shape of
the CLI contract's ``sources`` entries)."""

from __future__ import annotations

from dataclasses import dataclass, field

from core.errors import IntajError


@dataclass
class SourceResult:
    source_id: str
    source: str
    status: str = "ready"
    chunks: int = 0
    embedded: int = 0
    reused: int = 0
    error: str | None = None
    code: str | None = None
    timings: dict[str, float] = field(default_factory=dict)

    @classmethod
    def unchanged(cls, source_id: str, source: str, chunks: int) -> SourceResult:
        """A source whose bytes are already ingested: every chunk reused, nothing run."""
        return cls(source_id, source, chunks=chunks, reused=chunks)

    @classmethod
    def never_ran(
        cls, source_id: str, error: IntajError, *, source: str | None = None
    ) -> SourceResult:
        """A source failed by ``error`` before any of its stages ran (``source``: its path,
        else known by its id)."""
        return cls(
            source_id, source or source_id, status="failed", error=error.message, code=error.code
        )

    @classmethod
    def refused(cls, source: str, error: str) -> SourceResult:
        """A path or URL that never became a source (no such file, over the size limit)."""
        return cls(source, source, status="failed", error=error)

    def as_json(self) -> dict[str, object]:
        return {
            "source": self.source,
            "status": self.status,
            "chunks": self.chunks,
            "embedded": self.embedded,
            "reused": self.reused,
            "error": self.error,
        }
