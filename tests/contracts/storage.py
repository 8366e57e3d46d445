"""What every :class:`pipeline.sources.Storage` backend does. A subclass provides two
fixtures: ``storage`` (the backend) and ``location`` (a function from a key such as
``bot-1/uuid/report.pdf`` to the path the backend stores it at, e.g. ``s3://bucket/...``)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from core.errors import SourceError
from pipeline.sources import Storage

Location = Callable[[str], str]
EVERY_BYTE = bytes(range(256)) * 4


class StorageContract:
    def test_what_is_written_is_read_back_byte_for_byte(
        self, storage: Storage, location: Location
    ) -> None:
        path = location("bot-1/u1/report.pdf")
        assert storage.write(path, EVERY_BYTE) == path
        doc = storage.read(path, max_bytes=len(EVERY_BYTE))
        assert (doc.data, doc.name) == (EVERY_BYTE, "report.pdf")

    def test_a_second_write_replaces_the_first(self, storage: Storage, location: Location) -> None:
        path = location("bot-1/u2/notes.txt")
        storage.write(path, b"first version")
        storage.write(path, b"second")
        assert storage.read(path, max_bytes=100).data == b"second"

    def test_a_name_with_spaces_and_accents_keeps_them(
        self, storage: Storage, location: Location
    ) -> None:
        path = location("bot-1/u3/Résumé 2026 final.txt")
        storage.write(path, b"text")
        assert storage.read(path, max_bytes=100).name == "Résumé 2026 final.txt"

    def test_keys_are_separate(self, storage: Storage, location: Location) -> None:
        storage.write(location("bot-1/u4/a.txt"), b"a")
        storage.write(location("bot-2/u4/a.txt"), b"b")
        assert storage.read(location("bot-1/u4/a.txt"), max_bytes=10).data == b"a"
        assert storage.read(location("bot-2/u4/a.txt"), max_bytes=10).data == b"b"

    def test_a_missing_file_is_source_missing(self, storage: Storage, location: Location) -> None:
        with pytest.raises(SourceError) as info:
            storage.read(location("bot-1/never/written.pdf"), max_bytes=100)
        assert (info.value.code, info.value.transient) == ("source_missing", False)

    def test_a_file_over_the_limit_is_refused(self, storage: Storage, location: Location) -> None:
        path = location("bot-1/u5/big.bin")
        storage.write(path, b"x" * 101)
        with pytest.raises(SourceError) as info:
            storage.read(path, max_bytes=100)
        assert info.value.code == "source_too_large"
        assert storage.read(path, max_bytes=101).data == b"x" * 101  # exactly the limit: read

    def test_delete_removes_and_deleting_again_is_fine(
        self, storage: Storage, location: Location
    ) -> None:
        path = location("bot-1/u6/gone.txt")
        storage.write(path, b"soon gone")
        storage.delete(path)
        with pytest.raises(SourceError) as info:
            storage.read(path, max_bytes=100)
        assert info.value.code == "source_missing"
        storage.delete(path)
