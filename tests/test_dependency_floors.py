"""Security floors of our dependencies (reliability-test-plan §0): CI fails when an installed
version is below the release that fixed a known vulnerability we would be exposed to."""

from __future__ import annotations

import re
from importlib import metadata

import pytest

FLOORS = {
    "pypdf": (
        "7.0.1",
        "object-stream offsets, XFA and image-size limits (SEC entries 7.0.0/7.0.1)",
    ),
    "python-docx": ("0.8.6", "CVE-2016-5851 XXE"),
    "lxml": ("6.1.0", "CVE-2026-41066 iterparse/ETCompatXMLParser resolved entities"),
    "unstructured": ("0.26.1", "CVE-2024-46455, CVE-2025-64712, SEC-146 array streams"),
    "urllib3": ("2.7.0", "CVE-2025-66418/-66471, CVE-2026-21441/-44432 decompression bombs"),
    "beautifulsoup4": ("4.12.1", "deeply nested markup overflowing on encode/copy"),
    "psycopg-pool": ("3.2.1", "check_connection and the busy loop on failing checks"),
    "prefect": ("3.1.8", "flow-run heartbeats"),
    "pdfminer.six": ("20251230", "CVE-2025-64512 pickle CMaps (only if installed)"),
}


def version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", version.split("+")[0])[:4])


@pytest.mark.parametrize("package", sorted(FLOORS))
def test_installed_version_is_at_or_above_its_security_floor(package: str) -> None:
    floor, why = FLOORS[package]
    try:
        installed = metadata.version(package)
    except metadata.PackageNotFoundError:
        if package == "pdfminer.six":
            pytest.skip("pdfminer.six is not installed")
        raise
    assert version_tuple(installed) >= version_tuple(floor), (
        f"{package} {installed} is below {floor} ({why}); upgrade it"
    )


def test_version_comparison_is_numeric() -> None:
    assert version_tuple("7.0.10") > version_tuple("7.0.9")
    assert version_tuple("2.13.0+cpu") == (2, 13, 0)
