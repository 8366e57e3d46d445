"""Web origins (``scheme://host[:port]``), as browsers send them in the ``Origin`` header."""

from __future__ import annotations

from urllib.parse import urlsplit

from core.errors import OriginError

__all__ = ["OriginError", "normalize_origin"]
_DEFAULT_PORTS = {"http": 80, "https": 443}


def normalize_origin(value: str) -> str:
    """``value`` as the browser's ``Origin`` header writes it: lower-case scheme and host, no
    default port, no path. :class:`OriginError` for anything that is not an http(s) origin."""
    text = value.strip()
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as e:
        raise OriginError(f"{value!r} is not an origin: {e}") from e
    scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
    if scheme not in _DEFAULT_PORTS or not host:
        raise OriginError(f"{value!r} is not an origin: write it as https://shop.example")
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username:
        raise OriginError(f"{value!r} is not an origin: only scheme://host[:port], without a path")
    if ":" in host:
        host = f"[{host}]"
    return f"{scheme}://{host}" + (f":{port}" if port and port != _DEFAULT_PORTS[scheme] else "")
