"""Exactly-once fiscalisation against the Datecs simulator in its own process, over TCP.

The crash matrix: the agent's process is killed (SIGKILL) at each step of a receipt, and the
simulator is killed before answering each command of a receipt (it persists first: a power
cut after the device acted). After restarting, every sale has exactly one fiscal receipt,
and the Z report matches the sales per VAT group. A price change programs the PLU table.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from protocol import messages
from store_agent.fiscal.factory import reconnecting
from store_agent.fiscal.fiscaliser import Fiscaliser
from store_agent.fiscal.plu import PluSync
from store_agent.settings import load_printer
from store_agent.sqlite_store import LocalStore
from store_agent.sync.replica import Replica
from tests.integration.fiscal_crash import KILL_POINTS, kill_while_fiscalising
from tests.integration.test_datecs_driver import Sim

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
# Each family's simulator has its own VAT table; the agent maps 9% and 20% through it.
VAT_TABLES = {"x": ("A:0,B:20,C:9,D:5", "C", "B"), "printer": ("A:20,B:9,C:0", "B", "A"),
              "register": ("A:9,B:20,D:0", "A", "B")}
BASKET = (("BREAD", "2", "1.20", "2.28", "9"), ("MILK", "1", "0.95", "0.95", "9"),
          ("WINE", "1", "7.50", "7.50", "20"))
TOTAL = Decimal("10.73")


def sale(uuid: str) -> dict[str, Any]:
    return {"uuid": uuid, "lines": [{"sku": s, "name": f"Item {s}", "qty": q, "unit_price": u,
                                     "amount": a, "vat_rate": r} for s, q, u, a, r in BASKET],
            "payments": [{"method": "cash", "amount": "20.00"}]}


@pytest.fixture(params=list(VAT_TABLES))
def sim(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Sim]:
    simulator = Sim(tmp_path / "printer", request.param, [], vat=VAT_TABLES[request.param][0])
    try:
        yield simulator
    finally:
        simulator.stop()


def fiscaliser(tmp_path: Path, sim: Sim) -> Fiscaliser:
    printer = load_printer({"TESSERA_PRINTER_URL": f"datecs+tcp://127.0.0.1:{sim.port}",
                            "TESSERA_AGENT_CONFIG": str(tmp_path / "none.env")})
    assert printer is not None
    device = reconnecting(printer)
    sim.closables.append(device)  # closed when the simulator stops
    return Fiscaliser(LocalStore(tmp_path / "agent.db"), device)


def closed(sim: Sim) -> list[dict[str, Any]]:
    return [doc for doc in sim.state["journal"]
            if doc.get("kind") == "sale" and doc.get("outcome") == "closed"]


def check_exactly_once(tmp_path: Path, sim: Sim, sales: int) -> None:
    fiscal = fiscaliser(tmp_path, sim)
    fiscal.ensure_ready()
    receipts = closed(sim)
    assert len(receipts) == sales, receipts
    assert all(Decimal(r["amount"]) == TOTAL for r in receipts)
    assert not fiscal.pending()
    reconciliation = fiscal.z_report()
    assert reconciliation.ok, reconciliation.mismatches
    _table, nine, twenty = VAT_TABLES[sim.dialect]
    assert reconciliation.z.totals.get(nine) == Decimal("3.23")
    assert reconciliation.z.totals.get(twenty) == Decimal("7.50")


@pytest.mark.parametrize("kill_at", KILL_POINTS)
def test_the_agent_killed_at_any_step_leaves_exactly_one_receipt(tmp_path: Path, sim: Sim,
                                                                  kill_at: str) -> None:
    kill_while_fiscalising(tmp_path, f"datecs+tcp://127.0.0.1:{sim.port}", kill_at,
                           sale("sale-1"))
    check_exactly_once(tmp_path, sim, 1)


@pytest.mark.parametrize("command", range(1, 10))
def test_the_printer_losing_power_at_any_command_leaves_exactly_one_receipt(
        tmp_path: Path, sim: Sim, command: int) -> None:
    fiscal = fiscaliser(tmp_path, sim)
    fiscal.vat_groups()  # read before the fault is armed
    sim.inject(die_before_answer=command)
    with fiscal.store.write() as conn:
        fiscal.enqueue(conn, "sale-1", fiscal.prepare(sale("sale-1")), dt.datetime.now(dt.UTC))
    first = fiscal.fiscalise("sale-1")
    sim.reap()  # the simulator did lose power during this receipt
    assert first.state == "done" or first.error, first
    sim.start()  # power back
    check_exactly_once(tmp_path, sim, 1)


def test_central_price_changes_reach_the_plu_table(tmp_path: Path, sim: Sim) -> None:
    fiscal = fiscaliser(tmp_path, sim)
    store = fiscal.store
    replica = Replica(store)

    def apply(stream: str, version: int, entity: str, key: str, data: dict[str, Any]) -> None:
        replica.apply(messages.parse(messages.envelope(
            "changes", stream=stream, log_epoch="e1",
            changes=[{"version": version, "entity": entity, "key": key, "op": "upsert",
                      "data": data}])))

    product = {"sku": "BREAD", "name": "White bread", "category": None, "brand": None,
               "vat_rate": "9", "sale_price": "1.20", "active": True, "barcodes": []}
    plu = PluSync(store, fiscal, "kiosk-1")
    apply("catalog", 1, "product", "BREAD", product)
    now = dt.datetime.now(dt.UTC)
    assert plu.run_once(now) == 1
    assert sim.state["plu"]["1"]["price"] == "1.20"
    assert sim.state["plu"]["1"]["name"] == "White bread"
    # A price for this store from central, and one scheduled for tomorrow.
    apply("prices@s:kiosk-1", 1, "price", "BREAD|-",
          {"sku": "BREAD", "price": "1.10", "effective_from": None})
    tomorrow = (now + dt.timedelta(days=1)).replace(microsecond=0)
    apply("prices@s:kiosk-1", 2, "price", f"BREAD|{tomorrow.isoformat()}",
          {"sku": "BREAD", "price": "1.30", "effective_from": tomorrow.isoformat()})
    plu.run_once(now)
    assert sim.state["plu"]["1"]["price"] == "1.10"
    assert plu.due(now) == 0 and plu.due(tomorrow) == 1
    assert plu.run_once(tomorrow) == 1
    assert sim.state["plu"]["1"]["price"] == "1.30"
    # An unmapped VAT rate is refused and reported, the rest goes on.
    apply("catalog", 2, "product", "GIFT", {**product, "sku": "GIFT", "vat_rate": "21"})
    assert plu.run_once(tomorrow) == 0
    with store.read() as conn:
        refused = dict(conn.execute("SELECT sku, reason FROM plu_refused").fetchall())
    assert "21" in refused["GIFT"]


def test_the_footer_head_office_set_is_printed_inside_the_receipt(tmp_path: Path,
                                                                  sim: Sim) -> None:
    from store_agent.pos import till

    fiscal = fiscaliser(tmp_path, sim)
    replica = Replica(fiscal.store)
    product = {"sku": "BREAD", "name": "White bread", "category": None, "brand": None,
               "vat_rate": "9", "sale_price": "1.20", "active": True, "barcodes": []}
    profile = {"scope": "default", "version": 1, "header": None, "logo_png": None,
               "footer": ["Grazie e arrivederci", "www.tessera.example"],
               "email": {"policy": "never", "sender": None, "subject": None, "body": None,
                         "document_types": None}}
    for stream, entity, key, data in (("catalog", "product", "BREAD", product),
                                      ("store-config", "receipt_profile", "default", profile)):
        replica.apply(messages.parse(messages.envelope(
            "changes", stream=stream, log_epoch="e1",
            changes=[{"version": 1, "entity": entity, "key": key, "op": "upsert",
                      "data": data}])))
    request = {"uuid": "6f1c7c2e-5f0e-4e43-9d43-0a4f3f1e2b11",
               "lines": [{"code": "BREAD", "qty": "1"}]}
    fiscal.ensure_ready()
    till.record_sale(fiscal.store, "kiosk-1", request, dt.datetime.now(dt.UTC), fiscal=fiscal)
    assert fiscal.fiscalise(request["uuid"]).state == "done"
    [receipt] = closed(sim)
    assert receipt["texts"] == ["Grazie e arrivederci", "www.tessera.example"]


def test_a_gift_and_the_points_are_printed_on_the_fiscal_receipt(tmp_path: Path,
                                                                 sim: Sim) -> None:
    from store_agent.pos import till

    fiscal = fiscaliser(tmp_path, sim)
    replica = Replica(fiscal.store)
    ada = "11111111-1111-4111-8111-111111111111"
    products = [{"sku": sku, "name": name, "category": None, "brand": None, "vat_rate": "9",
                 "sale_price": price, "active": True, "barcodes": []}
                for sku, name, price in (("BREAD", "White bread", "1.20"),
                                         ("MUG", "Mug", "6.00"))]
    accrual = {"threshold": "1", "step": "1", "points_per_step": "1"}
    feeds: dict[str, list[tuple[str, str, dict[str, Any]]]] = {
        "catalog": [("product", p["sku"], p) for p in products],
        "store-config": [("receipt_profile", "default", {
            "scope": "default", "version": 1, "header": None, "logo_png": None,
            "footer": ["Grazie"], "email": {"policy": "never", "sender": None,
                                            "subject": None, "body": None,
                                            "document_types": None}})],
        "loyalty": [("loyalty_profile", "BASE", {
            "code": "BASE", "description": "Base", "default": True, "card_prefix": "29",
            "discount_percent": "0", "version": 1, "accrual": accrual, "redemption": {}}),
            ("loyalty_level", "L1", {"code": "L1", "points": "10"}),
            ("loyalty_gift", "MUG", {"sku": "MUG", "level": "L1", "points": None,
                                     "level_points": "10"})],
        "customers": [("customer", ada, {"id": ada, "last_name": "Ada"}),
                      ("points_balance", ada, {"customer": ada, "points": "12",
                                               "updated_at": "2026-11-22T09:00:00+00:00"})],
    }
    for stream, items in feeds.items():
        replica.apply(messages.parse(messages.envelope(
            "changes", stream=stream, log_epoch="e1",
            changes=[{"version": i, "entity": e, "key": k, "op": "upsert", "data": d}
                     for i, (e, k, d) in enumerate(items, start=1)])))
    request = {"uuid": "6f1c7c2e-5f0e-4e43-9d43-0a4f3f1e2b12", "customer": ada,
               "lines": [{"code": "BREAD", "qty": "2"}, {"code": "MUG", "qty": "1",
                                                          "gift": True}]}
    fiscal.ensure_ready()
    till.record_sale(fiscal.store, "kiosk-1", request, dt.datetime.now(dt.UTC), fiscal=fiscal)
    assert fiscal.fiscalise(request["uuid"]).state == "done"
    [receipt] = closed(sim)
    assert Decimal(receipt["amount"]) == Decimal("2.40")  # the mug is a gift at 0
    assert receipt["texts"] == ["Points earned: 2", "Points spent: 10", "Points balance: 4",
                                "Grazie"]
