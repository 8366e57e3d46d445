"""Scheme dispatch in ``storage_for``."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.errors import ConfigError, SourceError
from core.settings import Settings
from pipeline.sources import storage_for
from pipeline.sources.http import HttpStorage
from pipeline.sources.local import LocalStorage
from pipeline.sources.s3 import S3Storage
from pipeline.sources.supabase import SupabaseStorage


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        home=tmp_path,
        supabase_url="http://127.0.0.1:1",
        supabase_service_key="k",
        s3_endpoint_url="http://127.0.0.1:1",
        s3_region="us-east-1",
        s3_access_key_id="testing",
        s3_secret_access_key="testing",
    )


@pytest.mark.parametrize(
    ("path", "kind"),
    [
        ("bot/uuid/a.pdf", LocalStorage),
        ("local://bot/uuid/a.pdf", LocalStorage),
        ("s3://bucket/key.pdf", S3Storage),
        ("supabase://bucket/key.pdf", SupabaseStorage),
        ("http://example.com/a", HttpStorage),
        ("HTTPS://example.com/a", HttpStorage),
    ],
)
def test_scheme_picks_the_backend(path: str, kind: type, settings: Settings) -> None:
    assert isinstance(storage_for(path, settings), kind)


@pytest.mark.parametrize("path", ["file:///etc/passwd", "ftp://x/y", "gopher://x"])
def test_unknown_schemes_name_the_known_ones(path: str, settings: Settings) -> None:
    with pytest.raises(ConfigError) as info:
        storage_for(path, settings)
    assert "s3://" in info.value.message and "supabase://" in info.value.message


def test_supabase_needs_its_settings(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        storage_for("supabase://b/k", Settings(home=tmp_path))
    assert "INTAJ_SUPABASE_URL" in info.value.message


def test_url_sources_are_read_only(settings: Settings) -> None:
    backend = storage_for("https://example.com/a", settings)
    with pytest.raises(SourceError) as info:
        backend.write("https://example.com/a", b"x")
    assert info.value.code == "read_only"
    backend.delete("https://example.com/a")  # nothing stored, nothing to do
