"""Network stand-ins for the URL fetching tests: a stub resolver and a bar on the system's.

No test reaches an outside address: names resolve only through ``StubDNS``, and
``bar_system_dns`` fails a test the moment a name reaches ``socket.getaddrinfo`` (numeric
hosts still pass: local servers bind to them, clients connect to pinned IPs)."""
from __future__ import annotations

import ipaddress
import socket


class StubDNS:
    """A resolver from a table: name -> addresses, or a callable giving them (an answer that
    changes between two lookups); records every lookup. An unknown name is NXDOMAIN."""

    def __init__(self, table: dict):
        self.table = dict(table)
        self.lookups: list[str] = []

    def __call__(self, host: str, port: int) -> list[str]:
        self.lookups.append(host)
        if host not in self.table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        answer = self.table[host]
        return list(answer() if callable(answer) else answer)


def bar_system_dns(monkeypatch) -> None:
    """Let only numeric hosts through ``socket.getaddrinfo`` for the rest of the test."""
    real = socket.getaddrinfo

    def numeric_only(host, *args, **kwargs):
        text = host.decode() if isinstance(host, bytes) else host
        try:
            ipaddress.ip_address(text)
        except ValueError:
            raise AssertionError(f"a name reached the system resolver: {host!r}") from None
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", numeric_only)
