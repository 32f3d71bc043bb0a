"""The whole network as real processes: catalogue down to the stores, sales up to central.

Each test starts a broker, central (gunicorn web API, publisher, ingest workers) on a fresh
PostgreSQL database and the store agents it needs, then drives them only through their
public interfaces (REST at central, the POS API at the stores) while stopping, killing and
restarting parts of the network.
"""

from __future__ import annotations

import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from functools import partial
from typing import Any

import pytest

from tests.e2e.harness import SYNC, Agent, Network, ean13, expect

pytestmark = pytest.mark.e2e

BARCODE = "4006381333931"


def served_price(agent: Agent, barcode: str, price: str | None) -> bool:
    """The agent serves ``barcode`` at ``price`` (None: answers 404)."""
    current = agent.price_of(barcode)
    return current == (None if price is None else Decimal(price))


def assert_same_sale(at_central: dict[str, Any], at_store: dict[str, Any]) -> None:
    """Central holds the sale the till recorded: same total and lines."""
    assert at_central["uuid"] == at_store["uuid"]
    assert Decimal(at_central["total"]) == Decimal(at_store["total"])
    assert at_central["number"] == at_store["number"]
    assert [(line["sku"], Decimal(line["qty"]), Decimal(line["unit_price"]),
             Decimal(line["amount"])) for line in at_central["lines"]] == \
        [(line["sku"], Decimal(line["qty"]), Decimal(line["unit_price"]),
          Decimal(line["amount"])) for line in at_store["lines"]]


def sell_many(agent: Agent, barcode: str, count: int) -> list[dict[str, Any]]:
    sales = []
    for i in range(count):
        sales.append(expect(agent.sell([(barcode, str(i % 3 + 1))]), 201))
    return sales


def assert_exactly_once(net: Network, store: str, sales: list[dict[str, Any]]) -> None:
    """Central holds each of ``sales`` once, nothing else, seqs 1..N without holes."""
    at_central = net.sales_at_central(store)
    uuids = Counter(sale["uuid"] for sale in at_central)
    assert [u for u, n in uuids.items() if n > 1] == []
    assert set(uuids) == {sale["uuid"] for sale in sales}
    assert sorted(sale["seq"] for sale in at_central) == list(range(1, len(sales) + 1))
    by_uuid = {sale["uuid"]: sale for sale in at_central}
    for sale in sales:
        assert_same_sale(by_uuid[sale["uuid"]], sale)


def arrived(net: Network, store: str, count: int) -> bool:
    return len(net.sales_at_central(store)) >= count


def test_product_reaches_both_stores(network: Network) -> None:
    network.start_central()
    kiosk, market = network.start_stores("kiosk-1", "market")
    network.create_category("drinks")
    network.create_product("COLA-1L", BARCODE, "1.99", category="drinks")

    for agent in (kiosk, market):
        network.wait(partial(served_price, agent, BARCODE, "1.99"), SYNC,
                     f"{agent.name} serving {BARCODE} at 1.99")
    product = expect(kiosk.product(BARCODE), 200)
    assert product["sku"] == "COLA-1L"
    assert product["category"] == "drinks"
    assert product["barcodes"] == [BARCODE]

    expect(network.central.patch("/api/v1/products/COLA-1L", {"sale_price": "2.49"}), 200)
    for agent in (kiosk, market):
        network.wait(partial(served_price, agent, BARCODE, "2.49"), SYNC,
                     f"{agent.name} serving the new price 2.49")
    basket = expect(market.http.post("/pos/v1/baskets/price",
                                      {"lines": [{"code": BARCODE, "qty": "2"}]}), 200)
    assert Decimal(basket["total"]) == Decimal("4.98")

    expect(network.central.delete("/api/v1/products/COLA-1L"), 200)
    for agent in (kiosk, market):
        network.wait(partial(served_price, agent, BARCODE, None), SYNC,
                     f"{agent.name} no longer selling the deactivated product")
    assert kiosk.sell([(BARCODE, "1")]).status_code == 422


def test_sale_reaches_central_exactly_once(network: Network) -> None:
    network.start_central()
    (kiosk,) = network.start_stores("kiosk-1")
    network.create_product("COLA-1L", BARCODE, "1.99")
    network.create_product("CHIPS", ean13(1), "0.85")
    network.wait(lambda: served_price(kiosk, ean13(1), "0.85"), SYNC, "catalogue at kiosk-1")

    sale_uuid = str(uuid.uuid4())
    request = {"uuid": sale_uuid, "till": "T1", "cashier": "ann",
               "lines": [{"code": BARCODE, "qty": "2"}, {"code": ean13(1), "qty": "3"}],
               "payments": [{"method": "cash", "amount": "10.00"}]}
    sale = expect(kiosk.http.post("/pos/v1/sales", request), 201)
    assert Decimal(sale["total"]) == Decimal("6.53")
    assert Decimal(sale["change"]) == Decimal("3.47")

    network.wait(lambda: arrived(network, "kiosk-1", 1), SYNC, "the sale at central")
    (at_central,) = network.sales_at_central("kiosk-1")
    assert_same_sale(at_central, sale)
    assert (at_central["store"], at_central["till"], at_central["cashier"]) == \
        ("kiosk-1", "T1", "ann")
    assert expect(network.central.get(f"/api/v1/sales/{sale_uuid}"), 200)["uuid"] == sale_uuid

    # The till retries (it never saw the answer): same result, still one sale.
    replay = kiosk.http.post("/pos/v1/sales", request)
    assert expect(replay, 200) == sale
    network.wait_outbox_drained(kiosk, sales=1)
    assert kiosk.status()["sales"] == 1
    assert [s["uuid"] for s in network.sales_at_central("kiosk-1")] == [sale_uuid]

    other = dict(request, lines=[{"code": BARCODE, "qty": "1"}])
    assert expect(kiosk.http.post("/pos/v1/sales", other), 409)["code"] == 409
    assert kiosk.status()["outbox_pending"] == 0
    assert [s["uuid"] for s in network.sales_at_central("kiosk-1")] == [sale_uuid]


def test_sale_while_central_stopped(network: Network) -> None:
    network.start_central()
    (kiosk,) = network.start_stores("kiosk-1")
    network.create_product("COLA-1L", BARCODE, "1.99")
    network.wait(lambda: served_price(kiosk, BARCODE, "1.99"), SYNC, "catalogue at kiosk-1")
    before = sell_many(kiosk, BARCODE, 2)
    network.wait_outbox_drained(kiosk, sales=2)

    for name in ("ingest-a", "publisher", "central"):
        network.proc(name).stop()
    network.wait(lambda: kiosk.status()["central_online"] is False, SYNC,
                 "kiosk-1 seeing central offline")

    during = sell_many(kiosk, BARCODE, 5)
    assert served_price(kiosk, BARCODE, "1.99")
    basket = expect(kiosk.http.post("/pos/v1/baskets/price",
                                    {"lines": [{"code": BARCODE, "qty": "3"}]}), 200)
    assert Decimal(basket["total"]) == Decimal("5.97")
    status = kiosk.status()
    assert status["outbox_pending"] == 5
    assert status["outbox_acked"] == 2

    network.start_central()
    network.wait_outbox_drained(kiosk, sales=7)
    assert_exactly_once(network, "kiosk-1", before + during)


def test_sale_while_broker_down(network: Network) -> None:
    network.start_central()
    (kiosk,) = network.start_stores("kiosk-1")
    network.create_product("COLA-1L", BARCODE, "1.99")
    network.wait(lambda: served_price(kiosk, BARCODE, "1.99"), SYNC, "catalogue at kiosk-1")
    first = expect(kiosk.sell([(BARCODE, "1")]), 201)
    network.wait_outbox_drained(kiosk, sales=1)

    port = network.broker.port
    network.broker.kill()
    network.wait(lambda: not kiosk.status()["broker_connected"], SYNC,
                 "kiosk-1 noticing the broker is gone")
    offline = sell_many(kiosk, BARCODE, 4)
    assert kiosk.status()["outbox_pending"] == 4
    expect(network.central.patch("/api/v1/products/COLA-1L", {"sale_price": "2.19"}), 200)
    network.create_product("WATER", ean13(2), "0.59")
    assert served_price(kiosk, BARCODE, "1.99")  # nothing can reach the store yet

    network.broker.start()
    assert network.broker.port == port
    network.wait_agent_ready(kiosk)
    network.wait_outbox_drained(kiosk, sales=5)
    assert_exactly_once(network, "kiosk-1", [first, *offline])
    network.wait(lambda: served_price(kiosk, BARCODE, "2.19"), SYNC,
                 "the price changed during the outage at kiosk-1")
    network.wait(lambda: served_price(kiosk, ean13(2), "0.59"), SYNC,
                 "the product created during the outage at kiosk-1")


def test_agent_crash_and_restart(network: Network) -> None:
    network.start_central()
    (kiosk,) = network.start_stores("kiosk-1")
    network.create_category("drinks")
    for i in range(1, 6):
        network.create_product(f"SKU-{i}", ean13(i), f"{i}.10", category="drinks")
    network.wait(lambda: kiosk.status()["products"] == 5, SYNC, "catalogue at kiosk-1")
    acked = [expect(kiosk.sell([(ean13(i), "2")]), 201) for i in range(1, 4)]
    network.wait_outbox_drained(kiosk, sales=3)
    # The next sales are still in the outbox at the crash: no ingest worker takes them.
    network.proc("ingest-a").stop()
    pending = [expect(kiosk.sell([(ean13(i % 5 + 1), "1")]), 201) for i in range(5)]
    kiosk.kill()
    network.create_product("SKU-NEW", ean13(99), "9.99", category="drinks")

    network.restart_agent(kiosk)
    status = kiosk.status()
    assert (status["sales"], status["outbox_pending"], status["outbox_acked"]) == (8, 5, 3)
    for i in range(1, 6):
        assert served_price(kiosk, ean13(i), f"{i}.10")
    network.wait(lambda: served_price(kiosk, ean13(99), "9.99"), SYNC,
                 "the product created while kiosk-1 was down")
    assert kiosk.status()["products"] == 6

    network.start_ingest("a")
    network.wait_outbox_drained(kiosk, sales=8)
    assert_exactly_once(network, "kiosk-1", acked + pending)
    # The till keeps numbering after the crash; the new sale follows the old ones.
    after = expect(kiosk.sell([(ean13(99), "1")]), 201)
    assert after["number"] == 9
    network.wait_outbox_drained(kiosk, sales=9)
    assert_exactly_once(network, "kiosk-1", [*acked, *pending, after])


def test_late_store_bootstraps(network: Network) -> None:
    network.start_central()
    network.create_category("drinks")
    for i in range(1, 13):
        network.create_product(f"SKU-{i}", ean13(i), f"{i}.00", category="drinks")
    expect(network.central.patch("/api/v1/products/SKU-3", {"sale_price": "3.33"}), 200)
    expect(network.central.delete("/api/v1/products/SKU-4"), 200)
    active = network.active_products_at_central()
    assert active == 11

    (late,) = network.start_stores("market-2")
    network.wait(lambda: late.status()["products"] == active, SYNC,
                 f"market-2 holding the {active} active products")
    assert served_price(late, ean13(3), "3.33")
    assert served_price(late, ean13(4), None)
    assert served_price(late, ean13(12), "12.00")
    sale = expect(late.sell([(ean13(3), "1")]), 201)
    network.wait_outbox_drained(late, sales=1)
    assert_exactly_once(network, "market-2", [sale])


def test_two_ingest_workers(network: Network) -> None:
    network.start_central(ingest_workers=("a", "b"))
    agents = network.start_stores("kiosk-1", "market")
    network.create_product("COLA-1L", BARCODE, "1.99")
    for agent in agents:
        network.wait(partial(served_price, agent, BARCODE, "1.99"), SYNC,
                     f"catalogue at {agent.name}")

    def sell(i: int) -> tuple[str, dict[str, Any]]:
        agent = agents[i % 2]
        return agent.code, expect(agent.sell([(BARCODE, str(i % 4 + 1))]), 201)

    with ThreadPoolExecutor(max_workers=8) as pool:
        sold = list(pool.map(sell, range(60)))

    for agent in agents:
        network.wait_outbox_drained(agent, sales=30)
    all_sales = []
    for agent in agents:
        mine = [sale for code, sale in sold if code == agent.code]
        assert len(mine) == 30
        assert_exactly_once(network, agent.code, mine)
        all_sales.extend(network.sales_at_central(agent.code))
    assert len(all_sales) == 60
    assert len({sale["uuid"] for sale in all_sales}) == 60
    assert network.proc("ingest-a").running and network.proc("ingest-b").running
