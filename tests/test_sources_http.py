"""The guarded URL fetcher against real servers on 127.0.0.1 (test plan §6.2, U1-U4, U6, U8).

Only the fixture site's own ``127.0.0.1:PORT`` is admitted (``url_allow_hosts``); every other
loopback port, and everything private, must be refused, with the connect spy proving that the
refusal came before any dial.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from core.errors import SourceError
from core.settings import Settings
from pipeline.sources.http import HTTPStatusError, fetch_url
from tests.servers.netspy import ConnectSpy
from tests.servers.site import Site, running_site

U1_BLOCKED = [
    "http://127.0.0.1:5432/",
    "http://localhost./",
    "http://localhost:8000/",
    "http://[::1]/",
    "http://[::ffff:169.254.169.254]/",
    "http://[::ffff:127.0.0.1]/",
    "http://[::127.0.0.1]/",
    "http://169.254.169.254/latest/meta-data/",
    "http://2130706433/",
    "http://0x7f.1/",
    "http://0177.0.0.1/",
    "http://0x7f000001/",
    "http://127.1/",
    "http://0/",
    "http://0.0.0.0/",
    "http://10.0.0.1/",
    "http://172.16.0.1/",
    "http://192.168.1.1/",
    "http://100.64.0.1/",
    "http://224.0.0.1/",
    "http://240.0.0.1/",
    "http://[fe80::1]/",
    "http://[fc00::1]/",
    "http://[ff02::1]/",
    "http://[64:ff9b::a9fe:a9fe]/",
    "http://[64:ff9b::7f00:1]/",
    "http://[2002:7f00:1::]/",
    "http://metadata.google.internal/computeMetadata/v1/",
    "http://METADATA.GOOGLE.INTERNAL./",
    "http://metadata/",
    "http://service.localhost/",
    "http://127。0。0。1/",
    "http://127．0．0．1/",
    "http://ｌｏｃａｌｈｏｓｔ/",
    "http://①②⑦.0.0.1/",
    "http://user:pw@127.0.0.1/",
    "http://1.2.3.09/",
]

U2_SCHEMES = [
    "file:///etc/passwd",
    "gopher://127.0.0.1:70/_x",
    "ftp://example.com/x",
    "dict://127.0.0.1:11211/stat",
    "data:text/plain,hello",
    "jar:http://example.com/x.jar!/",
    "//example.com/x",
    "ldap://example.com/",
    "javascript:alert(1)",
]


@pytest.fixture
def spy(monkeypatch: pytest.MonkeyPatch) -> ConnectSpy:
    return ConnectSpy().install(monkeypatch)


@pytest.fixture
def site() -> Iterator[Site]:
    def setup(s: Site) -> None:
        s.page("/page.html", "<html><body>hello</body></html>", "text/html; charset=utf-8")
        s.page("/notes.txt", "plain words", "text/plain")

    with running_site(setup) as s:
        yield s


@pytest.fixture
def other() -> Iterator[Site]:
    """A second live server whose port is not admitted."""
    with running_site(lambda s: s.page("/secret", "secret", "text/plain")) as s:
        yield s


def settings_for(tmp_path: Path, *allow: str, **extra: Any) -> Settings:
    values: dict[str, Any] = {
        "home": tmp_path,
        "url_allow_hosts": list(allow),
        "url_timeout_seconds": 10,
        "url_max_bytes": 1024 * 1024,
        **extra,
    }
    return Settings(**values)


def code_of(url: str, settings: Settings) -> str:
    with pytest.raises(SourceError) as info:
        fetch_url(url, settings=settings)
    return info.value.code


# -- the happy path --------------------------------------------------------------------------


def test_fetches_an_allowed_page(site: Site, tmp_path: Path, spy: ConnectSpy) -> None:
    doc = fetch_url(site.url("/page.html"), settings=settings_for(tmp_path, site.host))
    assert doc.data == b"<html><body>hello</body></html>"
    assert doc.mime == "text/html"
    assert doc.url == site.url("/page.html")
    assert doc.name == "page.html"
    assert spy.hosts() == {"127.0.0.1"}


def test_document_url_is_the_final_url_after_redirects(site: Site, tmp_path: Path) -> None:
    doc = fetch_url(site.url("/chain/2"), settings=settings_for(tmp_path, site.host))
    assert doc.url == site.url("/chain/0")
    assert doc.data == b"end of chain"


@pytest.mark.parametrize(("status", "transient"), [(404, False), (403, False), (503, True)])
def test_http_errors_are_fetch_failed_with_the_status(
    site: Site, tmp_path: Path, status: int, transient: bool
) -> None:
    with pytest.raises(HTTPStatusError) as info:
        fetch_url(site.url(f"/status/{status}"), settings=settings_for(tmp_path, site.host))
    assert info.value.code == "fetch_failed"
    assert info.value.status == status
    assert str(status) in info.value.message
    assert info.value.transient is transient


def test_connection_errors_are_transient(tmp_path: Path) -> None:
    with socket.socket() as s:  # a port that nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(SourceError) as info:
        fetch_url(f"http://127.0.0.1:{port}/", settings=settings_for(tmp_path, "127.0.0.1"))
    assert (info.value.code, info.value.transient) == ("fetch_failed", True)


# -- U1, U2: refused before any socket is opened ---------------------------------------------


@pytest.mark.parametrize("url", U1_BLOCKED)
def test_u1_blocked_destinations_never_dial(url: str, tmp_path: Path, spy: ConnectSpy) -> None:
    assert code_of(url, settings_for(tmp_path)) == "url_blocked"
    assert spy.dials == []


@pytest.mark.parametrize("url", U2_SCHEMES)
def test_u2_other_schemes_are_forbidden(url: str, tmp_path: Path, spy: ConnectSpy) -> None:
    assert code_of(url, settings_for(tmp_path)) == "url_scheme_forbidden"
    assert spy.dials == []


def test_allow_list_admits_a_port_not_the_host(site: Site, other: Site, tmp_path: Path) -> None:
    settings = settings_for(tmp_path, site.host)
    assert fetch_url(site.url("/notes.txt"), settings=settings).data == b"plain words"
    assert code_of(other.url("/secret"), settings) == "url_blocked"
    assert other.hits == []


# -- U3: every redirect hop is checked again -------------------------------------------------


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
@pytest.mark.parametrize(
    "target",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://[::ffff:169.254.169.254]/",
        "http://metadata.google.internal/",
        "http://10.0.0.1/",
        "http://2130706433/",
    ],
)
def test_u3_redirect_to_internal_is_refused(
    site: Site, tmp_path: Path, spy: ConnectSpy, status: int, target: str
) -> None:
    url = site.url(f"/redirect?status={status}&to={target}")
    assert code_of(url, settings_for(tmp_path, site.host)) == "url_blocked"
    assert spy.hosts() == {"127.0.0.1"}
    assert {port for _, port in spy.dials} == {site.port}


def test_u3_redirect_to_another_loopback_port_is_refused(
    site: Site, other: Site, tmp_path: Path, spy: ConnectSpy
) -> None:
    for target in (other.url("/secret"), f"http://[::ffff:127.0.0.1]:{other.port}/secret"):
        url = site.url(f"/redirect?to={target}")
        assert code_of(url, settings_for(tmp_path, site.host)) == "url_blocked"
    assert other.hits == []
    assert {port for _, port in spy.dials} == {site.port}


def test_u3_redirect_to_another_scheme_is_refused(site: Site, tmp_path: Path) -> None:
    url = site.url("/redirect?to=file:///etc/passwd")
    assert code_of(url, settings_for(tmp_path, site.host)) == "url_scheme_forbidden"


def test_u3_at_most_five_redirects(site: Site, tmp_path: Path) -> None:
    settings = settings_for(tmp_path, site.host)
    assert fetch_url(site.url("/chain/5"), settings=settings).data == b"end of chain"
    site.hits.clear()
    assert code_of(site.url("/chain/20"), settings) == "too_many_redirects"
    assert len(site.hits) == 6  # the first request and five hops, no more


def test_u3_credentials_and_cookies_stay_with_their_origin(
    site: Site, other: Site, tmp_path: Path
) -> None:
    site.pages["/login"] = (302, {"Location": other.url("/secret"), "Set-Cookie": "s=1"}, b"")
    url = f"http://alice:s3cret@127.0.0.1:{site.port}/login"
    doc = fetch_url(url, settings=settings_for(tmp_path, "127.0.0.1"))
    assert doc.data == b"secret"
    assert doc.url == other.url("/secret")  # no credentials in the stored URL
    (_, first), (_, second) = site.hits[0], other.hits[0]
    assert first["Authorization"].startswith("Basic ")
    assert "Authorization" not in second
    assert "Cookie" not in second


def test_credentials_never_appear_in_errors(site: Site, tmp_path: Path) -> None:
    url = f"http://alice:s3cret@127.0.0.1:{site.port}/status/404"
    with pytest.raises(SourceError) as info:
        fetch_url(url, settings=settings_for(tmp_path, site.host))
    assert "s3cret" not in info.value.message and "alice" not in info.value.message


# -- U4: DNS rebinding -----------------------------------------------------------------------


def fake_dns(monkeypatch: pytest.MonkeyPatch, name: str, *answers: list[str]) -> list[int]:
    """``name`` resolves to ``answers[0]``, then ``answers[1]``... (the last one repeats)."""
    real = socket.getaddrinfo
    calls = [0]

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host != name:
            return real(host, port, *args, **kwargs)
        answer = answers[min(calls[0], len(answers) - 1)]
        calls[0] += 1
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (ip, int(port or 80))) for ip in answer]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return calls


def test_u4_rebinding_dials_only_the_validated_address(
    tmp_path: Path, spy: ConnectSpy, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = fake_dns(monkeypatch, "rebind.test", ["93.184.216.34"], ["127.0.0.1"])
    with pytest.raises(SourceError) as info:  # the spy refuses the public dial
        fetch_url("http://rebind.test/", settings=settings_for(tmp_path))
    assert (info.value.code, info.value.transient) == ("fetch_failed", True)
    assert spy.hosts() == {"93.184.216.34"}  # never 127.0.0.1
    assert calls[0] == 1  # resolved once: the answer checked is the answer used


@pytest.mark.parametrize(
    "answers", [[["127.0.0.1"]], [["93.184.216.34", "127.0.0.1"]], [["169.254.169.254"]]]
)
def test_u4_any_blocked_answer_refuses_before_dialling(
    tmp_path: Path, spy: ConnectSpy, monkeypatch: pytest.MonkeyPatch, answers: list[list[str]]
) -> None:
    fake_dns(monkeypatch, "rebind.test", *answers)
    assert code_of("http://rebind.test/", settings_for(tmp_path)) == "url_blocked"
    assert spy.dials == []


def test_u4_allowed_name_is_pinned_and_keeps_its_host_header(
    site: Site, tmp_path: Path, spy: ConnectSpy, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_dns(monkeypatch, "intranet.test", ["127.0.0.1"])
    settings = settings_for(tmp_path, f"intranet.test:{site.port}")
    doc = fetch_url(f"http://intranet.test:{site.port}/notes.txt", settings=settings)
    assert doc.data == b"plain words"
    assert site.hits[0][1]["Host"] == f"intranet.test:{site.port}"
    assert spy.hosts() == {"127.0.0.1"}


# -- U6: budgets ------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/infinite", "/huge-length", "/gzip-bomb", "/gzip-bomb?layers=2"])
def test_u6_byte_budget_counts_decoded_bytes(site: Site, tmp_path: Path, path: str) -> None:
    started = time.monotonic()
    assert code_of(site.url(path), settings_for(tmp_path, site.host)) == "source_too_large"
    assert time.monotonic() - started < 5


def test_u6_small_gzip_is_decoded(site: Site, tmp_path: Path) -> None:
    import gzip

    site.pages["/z"] = (200, {"Content-Encoding": "gzip"}, gzip.compress(b"hello " * 1000))
    assert fetch_url(site.url("/z"), settings=settings_for(tmp_path, site.host)).data == (
        b"hello " * 1000
    )


def test_u6_trickle_stops_at_the_deadline(site: Site, tmp_path: Path) -> None:
    settings = settings_for(tmp_path, site.host, url_timeout_seconds=1.5)
    started = time.monotonic()
    with pytest.raises(SourceError) as info:
        fetch_url(site.url("/trickle"), settings=settings)
    assert (info.value.code, info.value.transient) == ("fetch_timeout", True)
    assert time.monotonic() - started < 1.5 + 2


# -- U8: the environment is ignored ----------------------------------------------------------


def test_u8_env_proxies_and_netrc_are_ignored(
    site: Site, other: Site, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login mallory password leaked\n")
    netrc.chmod(0o600)
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.setenv(name, other.base)
    monkeypatch.setenv("NO_PROXY", "")
    monkeypatch.setenv("NETRC", str(netrc))
    doc = fetch_url(site.url("/notes.txt"), settings=settings_for(tmp_path, site.host))
    assert doc.data == b"plain words"
    assert other.hits == []  # the canary proxy saw nothing
    assert "Authorization" not in site.hits[0][1]
