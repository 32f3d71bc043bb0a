"""Streams: a bucket of the central change log restricted to one scope.

Each stream has its own gap-free version sequence. A store follows every stream of scope
"all", the streams of its group and its own streams.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

ScopeKind = Literal["all", "group", "store"]

CATALOG = "catalog"
STORE_CONFIG = "store-config"
PRICES = "prices"
POLICIES = "policies"
PARTNERS = "partners"
CUSTOMERS = "customers"

BUCKETS = (CATALOG, STORE_CONFIG, PRICES, POLICIES, PARTNERS, CUSTOMERS)
"""Buckets known to this protocol version (readers ignore others)."""


@dataclass(frozen=True)
class Scope:
    kind: ScopeKind
    ref: str | None = None

    def __post_init__(self) -> None:
        if (self.kind == "all") != (self.ref is None):
            raise ValueError("scope 'all' takes no ref; 'group' and 'store' need one")


ALL = Scope("all")


def stream_name(bucket: str, scope: Scope) -> str:
    """``catalog``, ``prices@g:north`` or ``store-config@s:kiosk-1``."""
    if scope.kind == "all":
        return bucket
    return f"{bucket}@{scope.kind[0]}:{scope.ref}"


def parse_stream(name: str) -> tuple[str, Scope]:
    """Inverse of :func:`stream_name`."""
    bucket, sep, rest = name.partition("@")
    if not sep:
        return bucket, ALL
    kind, _, ref = rest.partition(":")
    if kind == "g" and ref:
        return bucket, Scope("group", ref)
    if kind == "s" and ref:
        return bucket, Scope("store", ref)
    raise ValueError(f"bad stream name {name!r}")


def streams_of(bucket: str, store: str, group: str | None) -> list[str]:
    """The streams of ``bucket`` a store follows: all stores, its own, then its group's."""
    names = [stream_name(bucket, ALL), stream_name(bucket, Scope("store", store))]
    if group:
        names.append(stream_name(bucket, Scope("group", group)))
    return names
