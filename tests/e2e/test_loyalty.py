"""Loyalty end to end, with real processes (issue 16's acceptance): a customer earns at two
stores while both are offline, takes a gift at a third after sync; central, the three
stores and the customer's ledger agree on the balance; a second gift in one sale is
refused with a clear message and nothing of it is kept."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import pytest

from rules.cards import loyalty_card_number
from tests.e2e.harness import SYNC, Agent, Network, ean13, expect

pytestmark = pytest.mark.e2e

CARD = loyalty_card_number("299", 42)
BREAD, GIFT, GIFT_TWO = ean13(1), ean13(2), ean13(3)


def known_balance(agent: Agent, customer: str) -> Decimal | None:
    answer = agent.http.get(f"/pos/v1/customers/{customer}/gifts")
    return Decimal(answer.json()["balance"]) if answer.status_code == 200 else None


def central_balance(net: Network, customer: str) -> Decimal:
    return Decimal(expect(net.central.get(f"/api/v1/customers/{customer}/points"),
                          200)["balance"])


def sell(agent: Agent, customer: str, *lines: dict[str, Any]) -> Any:
    return agent.http.post("/pos/v1/sales", {"uuid": str(uuid.uuid4()), "lines": list(lines),
                                             "customer": customer})


def test_earned_offline_at_two_stores_spent_at_a_third_and_agreed_everywhere(
        network: Network) -> None:
    network.start_central()
    central = network.central
    expect(central.post("/api/v1/loyalty/profiles/", {
        "code": "BASE", "description": "Standard", "default": True, "card_prefix": "29",
        "accrual": {"threshold": "1", "step": "1", "points_per_step": "1"}}), 201)
    expect(central.request("PUT", "/api/v1/loyalty/levels/L1",
                           json={"name": "First", "points": "20"}), 200)
    network.create_product("BREAD", BREAD, "10.00")
    network.create_product("MUG", GIFT, "5.00")
    network.create_product("VASE", GIFT_TWO, "8.00")
    for sku in ("MUG", "VASE"):
        expect(central.request("PUT", f"/api/v1/loyalty/gifts/{sku}", json={"level": "L1"}), 200)
    stores = network.start_stores("kiosk-1", "kiosk-2", "kiosk-3")
    store_a, store_b, store_c = stores
    made = expect(store_a.http.post("/pos/v1/customers", {
        "fields": {"first_name": "Ada", "last_name": "Rossi"}, "cards": [CARD]}), 201)
    customer = made["id"]
    network.wait(lambda: all(known_balance(a, customer) is not None
                             and a.status()["products"] == 3 for a in stores), SYNC,
                 "the customer, the catalogue and the programme at every store")

    network.broker.kill()
    network.wait(lambda: not any(a.status()["broker_connected"] for a in stores), SYNC,
                 "every store noticing the broker is gone")
    earned_a = expect(sell(store_a, customer, {"code": BREAD, "qty": "2"}), 201)
    earned_b = expect(sell(store_b, customer, {"code": BREAD, "qty": "1"}), 201)
    assert (Decimal(earned_a["loyalty"]["points"]), Decimal(earned_b["loyalty"]["points"])) \
        == (20, 10)
    # Offline, a store spends nothing its earns have not been booked for yet.
    early = sell(store_a, customer, {"code": GIFT, "gift": True})
    assert early.status_code == 422, early.json()

    network.broker.start()
    for agent, sales in ((store_a, 2), (store_b, 1)):  # store A's first entry: the customer
        network.wait_agent_ready(agent)
        network.wait_outbox_drained(agent, sales=sales)
    network.wait_agent_ready(store_c)
    network.wait(lambda: central_balance(network, customer) == 30, SYNC,
                 "central booking both stores' points")
    network.wait(lambda: known_balance(store_c, customer) == 30, SYNC,
                 "the balance reaching the third store")

    two = sell(store_c, customer, {"code": GIFT, "gift": True}, {"code": GIFT_TWO, "gift": True})
    assert two.status_code == 422
    assert "one gift" in two.json()["message"], two.json()
    gift = expect(sell(store_c, customer, {"code": BREAD, "qty": "1"},
                       {"code": GIFT, "gift": True}), 201)
    assert [Decimal(g["points"]) for g in gift["loyalty"]["gifts"]] == [20]
    network.wait_outbox_drained(store_c, sales=1)

    # 30 earned, 10 more with the gift's sale, 20 spent: 20 everywhere.
    network.wait(lambda: central_balance(network, customer) == 20, SYNC,
                 "central booking the gift")
    for agent in stores:
        network.wait(lambda agent=agent: known_balance(agent, customer) == 20, SYNC,
                     f"{agent.name} knowing central's balance")
    ledger = expect(central.get(f"/api/v1/customers/{customer}/points"), 200)
    assert sum(Decimal(e["points"]) for e in ledger["entries"]) == 20
    assert sorted((e["kind"], e["store"], Decimal(e["points"])) for e in ledger["entries"]) \
        == [("earn", "kiosk-1", 20), ("earn", "kiosk-2", 10), ("earn", "kiosk-3", 10),
            ("spend", "kiosk-3", -20)]
    assert expect(central.get("/api/v1/loyalty/drift"), 200) == []
    assert expect(central.get("/api/v1/loyalty/overspends"), 200) == []
