"""The broker's URL (``mqtt://[user[:password]@]host[:port]`` or ``mqtts://...``), read the
same way by central, the agent and enrolment. User and password are percent-decoded, as in
any URL: a password with ``@``, ``:`` or ``/`` is written ``%40``, ``%3A``, ``%2F``."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote, urlsplit


class BrokerUrlError(ValueError):
    """A broker URL that cannot be used."""


@dataclass(frozen=True)
class BrokerUrl:
    host: str
    port: int
    tls: bool
    username: str | None = None
    password: str | None = None


def parse_broker_url(value: str) -> BrokerUrl:
    """``value`` read; the port defaults to 1883 (8883 with mqtts://)."""
    url = urlsplit(value)
    try:
        port = url.port
    except ValueError:
        port = -1
    if url.scheme not in ("mqtt", "mqtts") or not url.hostname or port == -1:
        raise BrokerUrlError(f"must look like mqtt://host:port, got {value!r}")
    tls = url.scheme == "mqtts"
    return BrokerUrl(host=url.hostname, port=port or (8883 if tls else 1883), tls=tls,
                     username=unquote(url.username) if url.username else None,
                     password=unquote(url.password) if url.password else None)
