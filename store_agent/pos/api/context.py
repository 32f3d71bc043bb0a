"""What every /pos/v1 feature blueprint is built from: the agent's adapters and services,
handed over once by the composition root (``store_agent.runtime``)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from store_agent.pos.checkout import Checkout
from store_agent.pos.customers import Customers
from store_agent.pos.display import DisplayHub
from store_agent.sqlite_store import LocalStore
from store_agent.sync.replica import Replica


@dataclass(frozen=True)
class PosContext:
    store: LocalStore
    replica: Replica
    store_code: str
    clock: Callable[[], dt.datetime]
    status: Callable[[], dict[str, Any]]
    checkout: Checkout
    customers: Customers
    display_hub: DisplayHub
    display_dir: Path | None = None
    central_clock: Callable[[], Any] | None = None

    def normalise(self, data: dict[str, Any]) -> dict[str, Any]:
        """A basket's lines with one code each (see ``schemas.normalise_lines``)."""
        from store_agent.pos.api.schemas import normalise_lines
        return normalise_lines(data, self.replica)
