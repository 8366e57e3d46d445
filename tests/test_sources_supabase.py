"""The Supabase Storage backend against a fake Storage REST API on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from core.errors import ConfigError, SourceError
from core.settings import Settings
from pipeline.sources import storage_for
from pipeline.sources.supabase import SupabaseStorage
from tests.servers.supabase_storage import FakeSupabaseStorage, running_supabase

KEY = "service-role-key"


@pytest.fixture
def fake() -> Iterator[FakeSupabaseStorage]:
    with running_supabase(KEY) as fake:
        yield fake


@pytest.fixture
def storage(fake: FakeSupabaseStorage, tmp_path: Path) -> SupabaseStorage:
    settings = Settings(home=tmp_path, supabase_url=fake.url + "/", supabase_service_key=KEY)
    backend = storage_for("supabase://docs/x", settings)
    assert isinstance(backend, SupabaseStorage)
    return backend


def test_write_read_delete(storage: SupabaseStorage, fake: FakeSupabaseStorage) -> None:
    path = "supabase://docs/bot-1/uuid/My report.pdf"
    assert storage.write(path, b"%PDF-1.7") == path
    assert fake.objects == {("docs", "bot-1/uuid/My report.pdf"): b"%PDF-1.7"}
    doc = storage.read(path, max_bytes=100)
    assert (doc.data, doc.name, doc.mime, doc.url) == (
        b"%PDF-1.7",
        "My report.pdf",
        "application/pdf",
        path,
    )
    storage.write(path, b"%PDF-1.7 v2")  # upsert
    assert storage.read(path, max_bytes=100).data == b"%PDF-1.7 v2"
    storage.delete(path)
    assert fake.objects == {}
    storage.delete(path)  # already gone: fine


def test_requests_carry_the_service_key(
    storage: SupabaseStorage, fake: FakeSupabaseStorage
) -> None:
    storage.write("supabase://docs/a.txt", b"a")
    storage.read("supabase://docs/a.txt", max_bytes=10)
    storage.delete("supabase://docs/a.txt")
    methods = [(m, p) for m, p, _ in fake.requests]
    assert methods == [
        ("POST", "/storage/v1/object/docs/a.txt"),
        ("GET", "/storage/v1/object/docs/a.txt"),
        ("DELETE", "/storage/v1/object/docs"),
    ]
    for _, _, headers in fake.requests:
        assert headers["Authorization"] == f"Bearer {KEY}"
        assert headers["apikey"] == KEY
    assert fake.requests[0][2]["x-upsert"] == "true"


def test_missing_object(storage: SupabaseStorage) -> None:
    with pytest.raises(SourceError) as info:
        storage.read("supabase://docs/nope.pdf", max_bytes=10)
    assert info.value.code == "source_missing"
    assert "upload it again" in info.value.message


def test_size_limit(storage: SupabaseStorage) -> None:
    storage.write("supabase://docs/big.bin", b"x" * 100)
    with pytest.raises(SourceError) as info:
        storage.read("supabase://docs/big.bin", max_bytes=99)
    assert info.value.code == "source_too_large"


def test_wrong_key_is_forbidden(fake: FakeSupabaseStorage, tmp_path: Path) -> None:
    fake.objects[("docs", "a.txt")] = b"a"
    settings = Settings(home=tmp_path, supabase_url=fake.url, supabase_service_key="wrong")
    with pytest.raises(SourceError) as info:
        SupabaseStorage(settings).read("supabase://docs/a.txt", max_bytes=10)
    assert info.value.code == "forbidden"
    assert "wrong" not in info.value.message


def test_env_proxies_are_ignored(
    storage: SupabaseStorage, fake: FakeSupabaseStorage, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("ALL_PROXY", "http://127.0.0.1:9")
    storage.write("supabase://docs/p.txt", b"p")
    assert fake.objects[("docs", "p.txt")] == b"p"


def test_unreachable_is_transient(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, supabase_url="http://127.0.0.1:9", supabase_service_key=KEY)
    with pytest.raises(SourceError) as info:
        SupabaseStorage(settings).read("supabase://docs/a", max_bytes=10)
    assert (info.value.code, info.value.transient) == ("source_unavailable", True)


def test_delete_sends_prefixes(storage: SupabaseStorage, fake: FakeSupabaseStorage) -> None:
    fake.objects[("docs", "a/b c.txt")] = b"x"
    storage.delete("supabase://docs/a/b c.txt")
    assert fake.objects == {}  # the fake removes exactly the keys named in "prefixes"


@pytest.mark.parametrize("path", ["supabase://docs", "supabase:///x"])
def test_paths_need_bucket_and_key(storage: SupabaseStorage, path: str) -> None:
    with pytest.raises(ConfigError):
        storage.read(path, max_bytes=10)
