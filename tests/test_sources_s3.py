"""The S3 backend with real boto3 against moto's S3 server on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from core.errors import ConfigError, SourceError
from core.settings import Settings
from pipeline.sources import fetch, storage_for
from pipeline.sources.s3 import S3Storage
from tests import fix_s3
from tests.fix_s3 import bucket

moto_endpoint = fix_s3.moto_endpoint
BUCKET = "intaj-test"


@pytest.fixture
def settings(
    moto_endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Settings]:
    with bucket(moto_endpoint, BUCKET, tmp_path, monkeypatch) as settings:
        yield settings


def test_write_read_delete(settings: Settings) -> None:
    path = f"s3://{BUCKET}/bot-1/uuid/report.pdf"
    storage = storage_for(path, settings)
    assert isinstance(storage, S3Storage)
    assert storage.write(path, b"%PDF-1.7 hello") == path
    doc = fetch(path, settings)
    assert (doc.data, doc.name, doc.url) == (b"%PDF-1.7 hello", "report.pdf", path)
    storage.delete(path)
    storage.delete(path)  # deleting twice is fine
    with pytest.raises(SourceError) as info:
        storage.read(path, max_bytes=1000)
    assert info.value.code == "source_missing"
    assert "upload it again" in info.value.message


@pytest.mark.parametrize("path", [f"s3://{BUCKET}/no/such/key", "s3://no-such-bucket/key"])
def test_missing_object_or_bucket(settings: Settings, path: str) -> None:
    with pytest.raises(SourceError) as info:
        S3Storage(settings).read(path, max_bytes=1000)
    assert info.value.code == "source_missing"


def test_size_limit_is_checked_before_download(settings: Settings) -> None:
    path = f"s3://{BUCKET}/big.bin"
    storage = S3Storage(settings)
    storage.write(path, b"x" * 2048)
    with pytest.raises(SourceError) as info:
        storage.read(path, max_bytes=1024)
    assert info.value.code == "source_too_large"
    assert len(storage.read(path, max_bytes=2048).data) == 2048


def test_unreachable_endpoint_is_transient(settings: Settings) -> None:
    down = settings.model_copy(update={"s3_endpoint_url": "http://127.0.0.1:9"})
    with pytest.raises(SourceError) as info:
        S3Storage(down).read(f"s3://{BUCKET}/x", max_bytes=10)
    assert (info.value.code, info.value.transient) == ("source_unavailable", True)


@pytest.mark.parametrize("path", ["s3://bucket", "s3://bucket/", "s3:///key"])
def test_paths_need_bucket_and_key(settings: Settings, path: str) -> None:
    with pytest.raises(ConfigError):
        S3Storage(settings).read(path, max_bytes=10)
