"""The outbound address policy: which URLs and addresses the guarded client may reach.

Two checks, both raising ``SourceError(code="url_blocked" | "url_scheme_forbidden")``:

- :func:`check_url` looks at the URL text before anything is resolved: the scheme must be http
  or https; the host is normalised (NFKC, ideographic full stops, trailing dot, case) and
  refused when it names a blocked host (``localhost``, ``metadata.google.internal``...) or is
  an IP literal in any spelling (``2130706433``, ``0x7f.1``, ``0177.0.0.1``) outside public
  unicast space.
- :class:`GuardedBackend` is an ``httpcore`` network backend whose ``connect_tcp`` resolves the
  host once, refuses if *any* answer is blocked, and dials the validated address itself. The
  address checked is the address connected to, so DNS rebinding between check and connect has
  nothing to exploit; TLS still verifies (and sends SNI for) the host name.

``url_allow_hosts`` (``"127.0.0.1"``, ``"localhost:8123"``, ``"[::1]:8080"``) admits named
private hosts, for tests and on-premises installs; an entry without a port admits every port.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpcore

from core.errors import SourceError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

ALLOWED_SCHEMES = frozenset({"http", "https"})
DEFAULT_PORTS = {"http": 80, "https": 443}
BLOCKED_HOSTNAMES = frozenset(
    {
        "localhost",
        "metadata",
        "metadata.google.internal",
        "metadata.goog",
        "instance-data",
        "instance-data.ec2.internal",
    }
)
BLOCKED_SUFFIXES = (".localhost", ".internal", ".local", ".home.arpa")

# Ranges that Python's ``is_global`` misses or that embed another address.
_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")
_IPV4_COMPAT = ipaddress.ip_network("::/96")
_FULL_STOPS = str.maketrans({"\u3002": ".", "\uff0e": ".", "\uff61": "."})
_NUMERIC_LABEL = re.compile(r"^(0[xX][0-9a-fA-F]*|[0-9]+)$")


@dataclass(frozen=True, slots=True)
class Target:
    """The parts of a URL the policy looks at."""

    scheme: str
    host: str
    port: int

    @property
    def origin(self) -> tuple[str, str, int]:
        return (self.scheme, self.host, self.port)


def normalise_host(host: str) -> str:
    host = unicodedata.normalize("NFKC", host).translate(_FULL_STOPS).lower()
    return host.removesuffix(".")


def parse_ipv4_loose(host: str) -> ipaddress.IPv4Address | None:
    """The address a host denotes when read the way ``inet_aton`` and browsers read it
    (``2130706433``, ``0x7f.1``, ``0177.0.0.1``); None when it is not numeric. A numeric-looking
    host that is not a valid address is refused."""
    labels = host.split(".")
    if not labels or not _NUMERIC_LABEL.match(labels[-1]):
        return None
    if len(labels) > 4 or not all(_NUMERIC_LABEL.match(label) for label in labels):
        raise SourceError(f"host {host!r} is not a valid address", code="url_blocked")
    try:
        parts = [_ipv4_part(label) for label in labels]
    except ValueError:
        raise SourceError(f"host {host!r} is not a valid address", code="url_blocked") from None
    *head, last = parts
    if any(p > 255 for p in head) or last >= 256 ** (5 - len(parts)):
        raise SourceError(f"host {host!r} is not a valid address", code="url_blocked")
    value = last
    for i, part in enumerate(head):
        value += part << (8 * (3 - i))
    return ipaddress.IPv4Address(value)


def _ipv4_part(label: str) -> int:
    if label[:2].lower() == "0x":
        return int(label[2:] or "0", 16)
    if len(label) > 1 and label.startswith("0"):
        return int(label, 8)
    return int(label)


def blocked_reason(addr: IPAddress) -> str | None:
    """Why ``addr`` is not a public unicast address, or None when it is."""
    if isinstance(addr, ipaddress.IPv6Address):
        embedded: ipaddress.IPv4Address | None = addr.ipv4_mapped or addr.sixtofour
        if embedded is None and addr in _NAT64:
            embedded = ipaddress.IPv4Address(int(addr) & 0xFFFFFFFF)
        if embedded is None and addr.teredo is not None:
            embedded = addr.teredo[1]
        if embedded is not None:
            inner = blocked_reason(embedded)
            return f"an IPv6 form of {embedded}, which is {inner}" if inner else None
    checks = (
        ("loopback", addr.is_loopback),
        ("link-local (cloud metadata lives here)", addr.is_link_local),
        ("multicast", addr.is_multicast),
        ("unspecified", addr.is_unspecified),
        ("shared address space (CGNAT)", addr in _CGNAT),
        ("private", addr.is_private),
        ("reserved", addr.is_reserved),
        ("IPv4-compatible or local-use NAT64", addr in _NAT64_LOCAL or addr in _IPV4_COMPAT),
        ("not globally routable", not addr.is_global),
    )
    return next((name for name, hit in checks if hit), None)


def _parse_allow_entry(entry: str) -> tuple[str, int | None]:
    entry = entry.strip()
    if entry.startswith("["):
        host, _, rest = entry[1:].partition("]")
        port = rest.removeprefix(":")
        return normalise_host(host), int(port) if port else None
    if entry.count(":") == 1:
        host, port = entry.split(":")
        return normalise_host(host), int(port)
    return normalise_host(entry), None


@dataclass(frozen=True)
class AddressPolicy:
    """Public unicast only, plus the hosts an operator named in ``url_allow_hosts``."""

    allow_hosts: frozenset[tuple[str, int | None]] = frozenset()

    @classmethod
    def from_entries(cls, entries: Iterable[str]) -> AddressPolicy:
        return cls(frozenset(_parse_allow_entry(e) for e in entries if e.strip()))

    def allowed(self, host: str, port: int) -> bool:
        host = normalise_host(host.strip("[]"))
        return (host, None) in self.allow_hosts or (host, port) in self.allow_hosts

    def check_url(self, url: str) -> Target:
        """Refuse a URL by its text alone (no DNS): scheme, host names, IP literals."""
        try:
            parts = urlsplit(url.strip())
            port = parts.port
        except ValueError as e:
            raise SourceError(f"{url!r} is not a valid URL: {e}", code="url_invalid") from e
        scheme = parts.scheme.lower()
        if scheme not in ALLOWED_SCHEMES:
            shown = scheme + ":" if scheme else "a URL without a scheme"
            raise SourceError(
                f"{shown} is not allowed for URL sources: give an http:// or https:// URL",
                code="url_scheme_forbidden",
            )
        host = normalise_host(parts.hostname or "")
        if not host:
            raise SourceError(f"{url!r} has no host", code="url_invalid")
        target = Target(scheme, host, port or DEFAULT_PORTS[scheme])
        if not self.allowed(host, target.port):
            self.check_host(host)
        return target

    def check_host(self, host: str) -> None:
        if host in BLOCKED_HOSTNAMES or host.endswith(BLOCKED_SUFFIXES):
            raise _blocked(host, "an internal host name")
        addr = _ip_literal(host) or parse_ipv4_loose(host)
        if addr is not None:
            self.check_address(addr, host)

    def check_address(self, addr: IPAddress, host: str) -> None:
        reason = blocked_reason(addr)
        if reason:
            literal = _ip_literal(host)
            raise _blocked(host, reason if literal == addr else f"it means {addr}, {reason}")


def _ip_literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def _blocked(host: str, why: str) -> SourceError:
    return SourceError(
        f"refusing to fetch from {host}: {why}. Only public addresses may be fetched; an operator"
        " can admit a private host with INTAJ_URL_ALLOW_HOSTS",
        code="url_blocked",
    )


class GuardedBackend(httpcore.SyncBackend):
    """Validates at connect time and dials only the address it validated."""

    def __init__(self, policy: AddressPolicy):
        self.policy = policy

    def resolve(self, host: str, port: int) -> list[IPAddress]:
        literal = _ip_literal(host)
        if literal is not None:
            addresses = [literal]
        else:
            try:
                infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
            except OSError as e:
                raise httpcore.ConnectError(f"cannot resolve {host}: {e}") from e
            addresses = list(dict.fromkeys(ipaddress.ip_address(i[4][0]) for i in infos))
        if not self.policy.allowed(host, port):
            self.policy.check_host(normalise_host(host))
            for addr in addresses:
                self.policy.check_address(addr, host)
        return addresses

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        last: Exception | None = None
        for addr in self.resolve(host, port):
            try:
                return super().connect_tcp(str(addr), port, timeout, local_address, socket_options)
            except httpcore.ConnectError as e:
                last = e
        raise last or httpcore.ConnectError(f"no address for {host}")
