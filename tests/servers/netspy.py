"""A connect spy: records every outbound TCP dial and refuses any that is not loopback, so a
test can prove the guard refused *before* dialling and no packet ever leaves the machine."""

from __future__ import annotations

import ipaddress
import socket
from typing import Any

import pytest

_real_connect = socket.socket.connect
_real_create_connection = socket.create_connection


class ConnectSpy:
    def __init__(self) -> None:
        self.dials: list[tuple[str, int]] = []

    def _record(self, address: Any) -> None:
        if not isinstance(address, tuple):  # AF_UNIX
            return
        host, port = str(address[0]), int(address[1])
        self.dials.append((host, port))
        try:
            loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            raise ConnectionRefusedError(f"connect spy: refusing to dial {host}:{port}")

    def hosts(self) -> set[str]:
        return {host for host, _ in self.dials}

    def install(self, monkeypatch: pytest.MonkeyPatch) -> ConnectSpy:
        spy = self

        def connect(sock: socket.socket, address: Any) -> None:
            spy._record(address)
            _real_connect(sock, address)

        def create_connection(address: Any, *args: Any, **kwargs: Any) -> socket.socket:
            spy._record(address)
            return _real_create_connection(address, *args, **kwargs)

        monkeypatch.setattr(socket.socket, "connect", connect)
        monkeypatch.setattr(socket, "create_connection", create_connection)
        return self
