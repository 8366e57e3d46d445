"""The S3 backend with real boto3 against moto's S3 server on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from moto.server import ThreadedMotoServer

from core.errors import ConfigError, SourceError
from core.settings import Settings
from pipeline.sources import fetch, storage_for
from pipeline.sources.s3 import S3Storage

BUCKET = "intaj-test"


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def settings(endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings(
        home=tmp_path,
        s3_endpoint_url=endpoint,
        s3_region="us-east-1",
        s3_access_key_id="testing",
        s3_secret_access_key="testing",
    )
    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    client.create_bucket(Bucket=BUCKET)
    yield settings
    for obj in client.list_objects_v2(Bucket=BUCKET).get("Contents", []):
        client.delete_object(Bucket=BUCKET, Key=obj["Key"])
    client.delete_bucket(Bucket=BUCKET)


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
