"""Central's clock and version, asked over MQTT (the ``clock`` request): for the doctor.

The running agent asks on its own connection (``GET /pos/v1/central/clock``); with no
agent running, the doctor connects with the store's credentials and asks itself. Either way
the answer is the same shape, or ``transport.rpc.RequestFailed`` says why there is none.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from transport.rpc import Requester


@dataclass(frozen=True)
class CentralClock:
    time: str  # central's time when it answered (ISO-8601, UTC)
    version: str
    protocol: int
    round_trip_ms: int


def ask(requester: Requester, timeout: float) -> CentralClock:
    """Ask central; CentralUnreachable within ``timeout`` seconds when it cannot answer."""
    started = time.monotonic()
    reply = requester.call("clock", timeout=timeout)
    elapsed = time.monotonic() - started
    return CentralClock(time=reply["time"].isoformat(), version=reply["version"],
                        protocol=reply["protocol"], round_trip_ms=round(elapsed * 1000))
