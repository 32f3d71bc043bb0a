"""Horizontal ingest with real processes: two ``tessera central ingest`` workers share the
stores' batches through the MQTT v5 shared subscription, one of them is killed -9 while
sales flow, and central still holds every sale once, in each store's order."""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

import pytest
from sqlalchemy import func, select

from central.db import Database
from central.models import Sale, Store
from tests.e2e.harness import SYNC, Agent, Network, expect

pytestmark = pytest.mark.e2e

log = logging.getLogger(__name__)

BARCODE = "4006381333931"
STORES = ("north-1", "north-2", "south-1")
PER_PHASE = 40  # sales per store in each of the two phases


@pytest.fixture
def central_db(network: Network) -> Iterator[Database]:
    """Central's PostgreSQL, read directly to check what the workers committed."""
    network.start_central(ingest_workers=("a", "b"))
    assert network.database_url is not None
    db = Database(network.database_url)
    yield db
    db.dispose()


def sells(agent: Agent) -> bool:
    return agent.price_of(BARCODE) is not None


def committed(db: Database) -> int:
    with db.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(Sale)) or 0)


def sell_in_background(agents: list[Agent], per_store: int,
                       sold: dict[str, list[str]]) -> threading.Thread:
    """Sales at every store at once (8 tills in parallel), recorded in ``sold``."""
    lock = threading.Lock()

    def sell(i: int) -> None:
        agent = agents[i % len(agents)]
        sale = expect(agent.sell([(BARCODE, str(i % 3 + 1))]), 201)
        with lock:
            sold[agent.code].append(sale["uuid"])

    def run() -> None:
        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(sell, range(per_store * len(agents))))

    thread = threading.Thread(target=run, name="tills")
    thread.start()
    return thread


def kill_mid_flight(network: Network, db: Database, worker: str, at_least: int) -> int:
    """SIGKILL ingest ``worker`` once central committed ``at_least`` sales; returns the
    count at the kill."""
    network.wait(lambda: committed(db) >= at_least, SYNC, f"{at_least} sales at central")
    network.proc(f"ingest-{worker}").kill()
    count = committed(db)
    log.info("killed ingest-%s with %d sales committed", worker, count)
    return count


def per_store(db: Database) -> dict[str, list[dict[str, Any]]]:
    """Every sale central holds, by store, in the order central inserted them."""
    with db.sessions() as session:
        rows = session.execute(select(Store.code, Sale.id, Sale.uuid, Sale.store_epoch,
                                      Sale.seq, Sale.number)
                               .join(Store, Sale.store_id == Store.id)
                               .order_by(Sale.id)).all()
    result: dict[str, list[dict[str, Any]]] = {}
    for code, sale_id, sale_uuid, epoch, seq, number in rows:
        result.setdefault(code, []).append({"id": sale_id, "uuid": sale_uuid,
                                            "epoch": epoch, "seq": seq, "number": number})
    return result


def test_two_workers_ingest_every_sale_once_in_store_order_through_a_kill(
        network: Network, central_db: Database) -> None:
    agents = network.start_stores(*STORES)
    network.create_product("COLA-1L", BARCODE, "1.99")
    for agent in agents:
        network.wait(partial(sells, agent), SYNC, f"catalogue at {agent.name}")
    sold: dict[str, list[str]] = {code: [] for code in STORES}
    total = PER_PHASE * len(STORES)
    started = time.monotonic()

    # Phase 1: both workers take batches; b dies with batches in flight.
    tills = sell_in_background(agents, PER_PHASE, sold)
    kill_mid_flight(network, central_db, "b", total // 3)
    tills.join()
    network.start_ingest("b")

    # Phase 2: b is back; now a dies with batches in flight, b carries on alone.
    tills = sell_in_background(agents, PER_PHASE, sold)
    kill_mid_flight(network, central_db, "a", total + total // 3)
    tills.join()
    for agent in agents:
        network.wait_outbox_drained(agent, sales=2 * PER_PHASE, timeout=SYNC)
    elapsed = time.monotonic() - started
    log.info("%d sales from %d stores committed in %.1fs with two kills",
             2 * total, len(STORES), elapsed)

    held = per_store(central_db)
    everything = [sale for sales in held.values() for sale in sales]
    uuids = Counter(sale["uuid"] for sale in everything)
    assert [u for u, n in uuids.items() if n > 1] == [], "a sale was ingested twice"
    assert len(everything) == 2 * total
    for code in STORES:
        mine = held[code]
        assert {sale["uuid"] for sale in mine} == set(sold[code]), f"{code}: sales differ"
        assert len({sale["epoch"] for sale in mine}) == 1
        # In each store's order: central inserted them by seq, and seq follows the till's
        # receipt numbers, with no hole.
        assert [sale["seq"] for sale in mine] == list(range(1, 2 * PER_PHASE + 1)), code
        assert [sale["number"] for sale in mine] == list(range(1, 2 * PER_PHASE + 1)), code
