"""Fiscal printers in the real network: two stores, each with its Datecs simulator process.

A price changed once at central is programmed into the PLU table of both printers; a sale
gets its fiscal receipt; with the printer off the till is told, the next sale waits, and
once the printer is back every sale has exactly one receipt.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.harness import Network, ean13, expect
from tests.integration.test_datecs_driver import Sim

pytestmark = pytest.mark.e2e


@pytest.fixture
def printers(tmp_path: Path) -> Iterator[dict[str, Sim]]:
    sims: dict[str, Sim] = {}
    try:
        for code in ("kiosk-1", "kiosk-2"):
            sims[code] = Sim(tmp_path / f"printer-{code}", "x", [])
        yield sims
    finally:
        for sim in sims.values():
            sim.stop()


def plu_price(sim: Sim, name: str) -> str | None:
    for plu in sim.state["plu"].values():
        if plu["name"] == name:
            return str(plu["price"])
    return None


def receipts(sim: Sim) -> list[dict[str, Any]]:
    return [d for d in sim.state["journal"] if d.get("kind") == "sale"
            and d.get("outcome") == "closed"]


def test_prices_reach_every_printer_and_each_sale_is_fiscalised_once(
        network: Network, printers: dict[str, Sim]) -> None:
    network.start_central()
    agents = {}
    for code, sim in printers.items():
        agent = network.add_agent(code)
        agent.env["TESSERA_PRINTER_URL"] = f"datecs+tcp://127.0.0.1:{sim.port}"
        agents[code] = agent.start()
    for agent in network.agents.values():
        network.wait_agent_ready(agent)
    barcode = ean13(77)
    network.create_product("BREAD", barcode, "1.20")  # 20% VAT: group B on the simulator

    network.wait(lambda: all(plu_price(s, "Product BREAD") == "1.20"
                             for s in printers.values()), 20, "the PLU on both printers")
    expect(network.central.patch("/api/v1/products/BREAD", {"sale_price": "1.35"}), 200)
    network.wait(lambda: all(plu_price(s, "Product BREAD") == "1.35"
                             for s in printers.values()), 20, "the new price on both printers")

    kiosk = network.agents["kiosk-1"]
    network.wait(lambda: kiosk.price_of(barcode) == Decimal("1.35"), 10, "the till's price")
    sale = expect(kiosk.sell([(barcode, "2")]), 201)
    assert sale["fiscal"]["state"] == "done"
    assert [Decimal(r["amount"]) for r in receipts(printers["kiosk-1"])] == [Decimal("2.70")]

    # The printer loses power: the sale is recorded and the till is told it has no receipt.
    printers["kiosk-1"].kill()
    waiting = expect(kiosk.sell([(barcode, "1")]), 201)
    assert waiting["fiscal"]["state"] != "done" and waiting["fiscal"]["error"]
    refused = kiosk.sell([(barcode, "1")])
    assert refused.status_code == 503 and "no fiscal receipt yet" in refused.json()["message"]
    assert kiosk.status()["fiscal_pending"] == 1

    printers["kiosk-1"].start()  # power back: the next sale first finishes the waiting one
    last = expect(kiosk.sell([(barcode, "3")]), 201)
    assert last["fiscal"]["state"] == "done"
    assert [Decimal(r["amount"]) for r in receipts(printers["kiosk-1"])] == [
        Decimal("2.70"), Decimal("1.35"), Decimal("4.05")]
    assert kiosk.status()["fiscal_pending"] == 0
    # Head office has the sales once each (the refused one was never recorded).
    network.wait(lambda: len(network.sales_at_central("kiosk-1")) == 3, 20, "3 sales")
    # Each with its fiscal receipt, reported by the store after fiscalising.
    network.wait(lambda: all(s["fiscal_document"] for s in
                             network.sales_at_central("kiosk-1")), 20, "the fiscal numbers")
    documents = sorted(s["fiscal_document"] for s in network.sales_at_central("kiosk-1"))
    assert len(set(documents)) == 3
    network.check()


# Each family's simulator with a VAT table of its own (Romanian rates 19% and 9%); on X the
# groups it does not list answer 100.00, "disabled".
FAMILY_TABLES = {"x": ("A:0,B:19,C:9,D:5", {"19": "B", "9": "C"}),
                 "printer": ("A:19,B:9,C:0", {"19": "A", "9": "B"}),
                 "register": ("A:9,B:19,C:5", {"19": "B", "9": "A"})}


@pytest.mark.parametrize("family", list(FAMILY_TABLES))
def test_sales_at_9_and_19_percent_print_under_the_devices_own_groups(
        network: Network, tmp_path: Path, family: str) -> None:
    table, groups = FAMILY_TABLES[family]
    sim = Sim(tmp_path / f"printer-{family}", family, [], vat=table)
    try:
        network.start_central()
        agent = network.add_agent("kiosk-1")
        agent.env["TESSERA_PRINTER_URL"] = f"datecs+tcp://127.0.0.1:{sim.port}"
        agent.start()
        network.wait_agent_ready(agent)
        bread, wine = ean13(91), ean13(92)
        network.create_product("BREAD", bread, "1.20", vat_rate="9")
        network.create_product("WINE", wine, "7.50", vat_rate="19")
        network.wait(lambda: agent.price_of(bread) is not None
                     and agent.price_of(wine) is not None, 20, "both prices at the till")
        for barcode in (bread, wine):
            assert expect(agent.sell([(barcode, "1")]), 201)["fiscal"]["state"] == "done"
        printed = receipts(sim)
        assert [[(line["name"], line["group"]) for line in r["lines"]] for r in printed] == [
            [("Product BREAD", groups["9"])], [("Product WINE", groups["19"])]]
        # The PLU table got the same groups (X and printers: Latin letters; the cash
        # registers were sent Cyrillic ones and store them as the group they stand for).
        expected = {"Product BREAD": groups["9"], "Product WINE": groups["19"]}
        network.wait(lambda: {p["name"]: p["group"] for p in sim.state["plu"].values()}
                     == expected, 20, "both PLUs under their groups")
        assert sim.state["model"] == {"x": "FP-700X", "printer": "FP-550",
                                      "register": "DP-25"}[family]
        network.check()
    finally:
        sim.stop()
