"""A progress bar for ingestion in a terminal (rich), fed by the flows' progress reports."""

from __future__ import annotations

from types import TracebackType
from typing import Any

from pipeline.run import progress


class IngestProgress:
    """Shows sources done out of the total, and the embedding progress of the current one."""

    def __init__(self, *, enabled: bool, total: int):
        self.enabled = enabled and total > 0
        self.total = total
        self._bar: Any = None
        self._done = 0

    def __enter__(self) -> IngestProgress:
        if not self.enabled:
            return self
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

        self._bar = Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            transient=True,
        )
        self._bar.start()
        self._sources = self._bar.add_task("sources", total=self.total)
        self._chunks = self._bar.add_task("embedding", total=None, visible=False)
        progress.set_listener(self._on_report)
        return self

    def _on_report(self, source_id: str, stage: str, done: int, total: int) -> None:
        if stage == "embed":
            self._bar.update(self._chunks, completed=done, total=total, visible=True)
        elif stage in ("done", "failed"):
            self._done += 1
            self._bar.update(self._sources, completed=self._done)
            self._bar.update(self._chunks, visible=False)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._bar is not None:
            progress.set_listener(None)
            self._bar.stop()
