"""Every storage backend passes the storage contract (tests/contracts/storage.py): the local
directory, S3 (real boto3 against moto's S3 server on 127.0.0.1) and Supabase Storage (its REST
API, served on 127.0.0.1 by tests/servers/supabase_storage.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from core.settings import Settings
from pipeline.sources import Storage, storage_for
from pipeline.sources.local import LocalStorage
from pipeline.sources.s3 import S3Storage
from pipeline.sources.supabase import SupabaseStorage
from tests import fix_s3
from tests.contracts.storage import Location, StorageContract
from tests.fix_s3 import bucket
from tests.servers.supabase_storage import running_supabase

moto_endpoint = fix_s3.moto_endpoint
BUCKET = "contract"


class TestLocalStorage(StorageContract):
    @pytest.fixture
    def storage(self, tmp_path: Path) -> Storage:
        backend = storage_for("bot-1/x/y.pdf", Settings(home=tmp_path))
        assert isinstance(backend, LocalStorage)
        return backend

    @pytest.fixture
    def location(self) -> Location:
        return lambda key: key


class TestS3Storage(StorageContract):
    @pytest.fixture
    def storage(
        self, moto_endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> Iterator[Storage]:
        with bucket(moto_endpoint, BUCKET, tmp_path, monkeypatch) as settings:
            backend = storage_for(f"s3://{BUCKET}/x", settings)
            assert isinstance(backend, S3Storage)
            yield backend

    @pytest.fixture
    def location(self) -> Location:
        return lambda key: f"s3://{BUCKET}/{key}"


class TestSupabaseStorage(StorageContract):
    @pytest.fixture
    def storage(self, tmp_path: Path) -> Iterator[Storage]:
        key = "service-role-key"
        with running_supabase(key) as fake:
            settings = Settings(
                home=tmp_path, supabase_url=fake.url + "/", supabase_service_key=key
            )
            backend = storage_for(f"supabase://{BUCKET}/x", settings)
            assert isinstance(backend, SupabaseStorage)
            yield backend

    @pytest.fixture
    def location(self) -> Location:
        return lambda key: f"supabase://{BUCKET}/{key}"
