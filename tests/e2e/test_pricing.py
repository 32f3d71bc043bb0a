"""Prices and policies set once at central, applied by every till, offline included."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from tests.e2e.harness import Agent, Network, expect

pytestmark = pytest.mark.e2e

SYNC = 20


def till_price(agent: Agent, barcode: str) -> Decimal:
    body = expect(agent.http.post("/pos/v1/baskets/price",
                                  {"lines": [{"code": barcode, "qty": "1"}]}), 200)
    return Decimal(body["total"])


def test_scheduled_price_takes_effect_at_its_moment_while_offline(network: Network) -> None:
    net = network
    net.start_central()
    kiosk, market = net.start_stores("kiosk-1", "market")
    net.create_category("food")
    net.create_product("TEA", "4006381333931", "3.49", category="food")
    net.wait(lambda: kiosk.price_of("4006381333931") == Decimal("3.49"), SYNC, "product at kiosk")

    moment = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=12)
    expect(net.central.post("/api/v1/prices/", {
        "sku": "TEA", "price": "2.99", "scope": "store", "ref": "kiosk-1",
        "effective_from": moment.isoformat()}), 201)
    # The change reaches the store ahead of its moment...
    net.wait(lambda: kiosk.status()["streams"].get("prices@s:kiosk-1") == 1, SYNC,
             "scheduled price at kiosk-1")
    assert till_price(kiosk, "4006381333931") == Decimal("3.49")
    # ...and is applied at its moment with the line down.
    net.broker.kill()
    net.wait(lambda: till_price(kiosk, "4006381333931") == Decimal("2.99"), 30,
             "the new price at its moment")
    assert dt.datetime.now(dt.UTC) >= moment
    assert Decimal(expect(kiosk.product("4006381333931"), 200)["price"]) == Decimal("2.99")
    # Only kiosk-1 was concerned.
    assert till_price(market, "4006381333931") == Decimal("3.49")
