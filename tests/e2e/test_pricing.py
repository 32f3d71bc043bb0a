"""Prices and policies set once at central, applied by every till, offline included."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from tests.e2e.harness import SYNC, Agent, Network, expect

pytestmark = pytest.mark.e2e



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


KIOSKS = [f"kiosk-{i}" for i in range(1, 6)]
BREAD, MILK, CIGARETTES = "5940000000011", "5940000000028", "5940000000035"


def test_union_card_story_of_seeds_004(network: Network) -> None:
    """Five kiosks and a market take a union's card: 5% off everything but cigarettes.

    Central imports the union's card list once; a kiosk cut off from the broker prices a
    basket of bread, milk and cigarettes with the card; the sale reaches central when the
    broker is back, and central's re-pricing agrees with the kiosk to the cent.
    """
    net = network
    net.start_central()
    for code in KIOSKS[1:]:
        expect(net.central.post("/api/v1/stores/", {"code": code, "name": code}), 201)
    kiosk, market = net.start_stores("kiosk-1", "market")
    for code, name, parent in (("food", "Food", None), ("tobacco", "Tobacco", None),
                               ("cigarettes", "Cigarettes", "tobacco")):
        expect(net.central.post("/api/v1/categories/",
                                {"code": code, "name": name, "parent": parent}), 201)
    for sku, barcode, name, category, vat, price in (
            ("BREAD", BREAD, "White bread", "food", "9", "2.10"),
            ("MILK", MILK, "Milk 1 l", "food", "9", "1.49"),
            ("CIG", CIGARETTES, "Cigarettes 20", "cigarettes", "19", "5.50")):
        expect(net.central.post("/api/v1/products/", {
            "sku": sku, "name": name, "category": category, "vat_rate": vat,
            "sale_price": price, "barcodes": [barcode]}), 201)
    expect(net.central.post("/api/v1/exclusions/", {
        "code": "no-tobacco", "name": "No discount on tobacco",
        "target": {"kind": "category", "codes": ["tobacco"]}}), 201)
    expect(net.central.post("/api/v1/partner-programmes/", {
        "code": "ABCDEF", "name": "Union ABCDEF card", "percent": "5",
        "stores": [*KIOSKS, "market"]}), 201)
    members = "number,holder\n7700000000017,Ana Pop\n7700000000024,Ion Ionescu\n"
    report = expect(net.central.request("POST", "/api/v1/partner-programmes/ABCDEF/"
                                             "cards/import", data=members.encode(),
                                             headers={"Content-Type": "text/csv"}), 200)
    assert report["added"] == 2 and report["rejected"] == []

    net.wait(lambda: kiosk.status()["streams"].get("partners", 0) >= 3
             and kiosk.status()["streams"].get("policies", 0) >= 1
             and kiosk.status()["products"] == 3, SYNC, "policies and cards at kiosk-1")
    net.broker.kill()

    basket = {"lines": [{"code": BREAD, "qty": "1"}, {"code": MILK, "qty": "2"},
                        {"code": CIGARETTES, "qty": "1"}], "cards": ["7700000000024"]}
    priced = expect(kiosk.http.post("/pos/v1/baskets/price", basket), 200)
    amounts = {line["sku"]: Decimal(line["amount"]) for line in priced["lines"]}
    assert amounts == {"BREAD": Decimal("1.99"), "MILK": Decimal("2.83"),
                       "CIG": Decimal("5.50")}
    cigarettes = next(line for line in priced["lines"] if line["sku"] == "CIG")
    assert cigarettes["excluded_by"] == "no-tobacco" and cigarettes["adjustments"] == []
    assert Decimal(priced["total"]) == Decimal("10.32")
    unknown = kiosk.http.post("/pos/v1/baskets/price", {**basket, "cards": ["7799999999999"]})
    assert unknown.status_code == 422 and "cards" in unknown.json()["errors"]

    sale = expect(kiosk.sell([(BREAD, "1"), (MILK, "2"), (CIGARETTES, "1")],
                             cards=["7700000000024"]), 201)
    assert Decimal(sale["total"]) == Decimal("10.32")
    assert sale["versions"]["partner:ABCDEF"] >= 1

    net.broker.start()
    net.wait(lambda: len(net.sales_at_central("kiosk-1")) == 1, SYNC, "the sale at central")
    at_central = net.sales_at_central("kiosk-1")[0]
    assert Decimal(at_central["total"]) == Decimal("10.32")
    net.wait(lambda: net.sales_at_central("kiosk-1")[0]["repriced"], SYNC, "re-pricing")
    assert expect(net.central.get("/api/v1/sales/drift"), 200) == []
