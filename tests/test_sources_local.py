"""Local storage confinement and server-made upload keys (test plan §6.3, S1 and S3)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from core.errors import ConfigError, SourceError
from pipeline.sources.local import LocalStorage
from pipeline.sources.registry import sanitise_name, upload_key

S1_NAMES = [
    "../../etc/cron.d/x",
    "..\\..\\x",
    "%2e%2e%2f",
    "/etc/passwd",
    "C:\\x",
    "a\x00b.pdf",
    "x" * 300 + ".pdf",
    "．．／．．／x",
    "CON.docx",
    "name\nwith\nnewlines.txt",
    "a..b.pdf",
    "...",
    "",
    "\u202egnp.exe",
    "a." + "b" * 300,
]

TRAVERSAL_KEYS = ["../../etc/passwd", "../outside.txt", "/etc/passwd", "a/../../x", "a\x00b"]


@pytest.fixture
def storage(tmp_path: Path) -> LocalStorage:
    (tmp_path / "root").mkdir()
    return LocalStorage(tmp_path / "root")


def files_outside(tmp_path: Path) -> list[Path]:
    return [p for p in tmp_path.rglob("*") if p.is_file() and "root" not in p.parts]


def test_round_trip(storage: LocalStorage) -> None:
    assert storage.write("bot/1/a.txt", b"hello") == "bot/1/a.txt"
    doc = storage.read("bot/1/a.txt", max_bytes=100)
    assert (doc.data, doc.name) == (b"hello", "a.txt")
    storage.delete("bot/1/a.txt")
    with pytest.raises(SourceError) as info:
        storage.read("bot/1/a.txt", max_bytes=100)
    assert info.value.code == "source_missing"


def test_size_limit(storage: LocalStorage) -> None:
    storage.write("big.bin", b"x" * 11)
    with pytest.raises(SourceError) as info:
        storage.read("big.bin", max_bytes=10)
    assert info.value.code == "source_too_large"


@pytest.mark.parametrize("key", TRAVERSAL_KEYS)
def test_traversal_keys_are_refused(storage: LocalStorage, tmp_path: Path, key: str) -> None:
    for action in (
        lambda: storage.read(key, max_bytes=100),
        lambda: storage.write(key, b"pwned"),
        lambda: storage.delete(key),
    ):
        with pytest.raises(SourceError) as info:
            action()
        assert info.value.code == "forbidden"
    assert files_outside(tmp_path) == []


def test_symlink_out_of_the_root_is_refused(storage: LocalStorage, tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("do not read")
    os.symlink(secret, storage.root / "link.txt")
    os.symlink(tmp_path, storage.root / "dir")
    for key in ("link.txt", "dir/secret.txt"):
        with pytest.raises(SourceError) as info:
            storage.read(key, max_bytes=100)
        assert info.value.code == "forbidden"
    with pytest.raises(SourceError):
        storage.write("dir/new.txt", b"x")
    assert not (tmp_path / "new.txt").exists()


@pytest.mark.parametrize("name", S1_NAMES)
def test_s1_upload_keys_are_server_made(name: str, storage: LocalStorage, tmp_path: Path) -> None:
    key = upload_key("bot-1", name)
    chatbot, uid, shown = key.split("/")  # exactly two separators
    assert chatbot == "bot-1" and len(uid) == 36
    assert ".." not in shown and "\\" not in shown and "\x00" not in shown
    assert shown == shown.strip() and "\n" not in shown
    assert 0 < len(shown) <= 120
    storage.write(key, b"data")
    assert (storage.root / key).is_file()
    assert files_outside(tmp_path) == []


def test_sanitise_name_keeps_ordinary_names() -> None:
    assert sanitise_name("Annual report 2024.pdf") == "Annual report 2024.pdf"
    assert sanitise_name("C:\\Users\\me\\notes.docx") == "notes.docx"


@pytest.mark.parametrize("chatbot_id", ["../x", "a/b", "", "a\x00"])
def test_upload_key_refuses_odd_chatbot_ids(chatbot_id: str) -> None:
    with pytest.raises(ConfigError):
        upload_key(chatbot_id, "a.pdf")
