"""Central prices every sale again with the versions the store used, and reports drift."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from central.bridge.ingester import HANDLERS
from central.db import Database
from central.models import Sale, SaleDrift
from central.services import (
    catalog,
    changelog,
    customers,
    loyalty_profiles,
    loyalty_programme,
    partners,
    points_ledger,
    policies,
    repricing,
    stores,
    upstream,
)
from protocol.streams import parse_stream
from store_agent.pos import till
from store_agent.sqlite_store import LocalStore
from store_agent.sync.replica import Replica

pytestmark = pytest.mark.integration

NOW = dt.datetime(2026, 11, 22, 10, 0, tzinfo=dt.UTC)


def sync(db: Database, replica: Replica, store: str) -> None:
    """Feed the store every change of the streams it follows, as the publisher would."""
    with db.sessions() as session:
        for stream, _head in changelog.heads(session).items():
            _bucket, scope = parse_stream(stream)
            if scope.kind == "store" and scope.ref != store:
                continue
            applied = replica.store.stream_versions().get(stream, 0)
            rows = changelog.read(session, stream, applied, 10_000)
            if rows:
                replica.apply({"stream": stream, "log_epoch": "test", "changes": [
                    {"version": c.version, "entity": c.entity, "key": c.key, "op": c.op,
                     "data": None if c.data is None else json.loads(c.data)} for c in rows]})


@pytest.fixture
def chain(clean_pg_db: Database, tmp_path: Path) -> tuple[Database, Replica]:
    db = clean_pg_db
    with db.transaction() as s:
        stores.create_store(s, "kiosk-1", "Kiosk 1")
        catalog.create_category(s, "food", "Food")
        catalog.create_category(s, "tobacco", "Tobacco")
        catalog.create_category(s, "cigarettes", "Cigarettes", "tobacco")
        for sku, category, vat, price in (("BREAD", "food", "9", "2.10"),
                                          ("MILK", "food", "9", "1.49"),
                                          ("CIG", "cigarettes", "19", "5.50")):
            catalog.create_product(s, {"sku": sku, "name": sku, "category": category,
                                       "vat_rate": Decimal(vat), "sale_price": Decimal(price)})
        policies.create(s, "exclusion", {"code": "no-tobacco", "name": "No tobacco",
                                         "target": {"kind": "category", "codes": ["tobacco"]}})
        policies.create(s, "sales_rule", {"code": "sales", "name": "Sales", "percent": "10",
                                          "target": {"kind": "all", "codes": []}})
        partners.create_programme(s, {"code": "ABCDEF", "name": "Union", "percent": "5"})
        partners.add_cards(s, "ABCDEF", [{"number": "7700000000017"}])
    replica = Replica(LocalStore(tmp_path / "agent.db"))
    sync(db, replica, "kiosk-1")
    return db, replica


def sell_and_ingest(db: Database, replica: Replica, body: dict[str, Any] | None = None,
                    tamper: dict[str, str] | None = None, reprice: bool = True) -> Sale:
    request = body or {"uuid": str(uuid.uuid4()), "cards": ["7700000000017"],
                       "lines": [{"code": "BREAD", "qty": "1"}, {"code": "MILK", "qty": "2"},
                                 {"code": "CIG", "qty": "1"}]}
    outcome = till.record_sale(replica.store, "kiosk-1", request, NOW)
    sale = dict(outcome.sale)
    if tamper:
        sale["lines"] = [dict(line, amount=tamper.get(line["sku"], line["amount"]))
                         for line in sale["lines"]]
    with replica.store.read() as conn:
        seq = conn.execute("SELECT MAX(seq) FROM outbox").fetchone()[0]
    with db.transaction() as s:
        upstream.ingest_batch(s, {"store": "kiosk-1", "epoch": "e1", "entries": [
            {"seq": seq, "kind": "sale", "id": sale["uuid"], "body": sale}]}, "test", HANDLERS)
    if reprice:
        with db.transaction() as s:
            assert repricing.reprice_pending(s) >= 1
    with db.sessions() as s:
        return s.scalars(select(Sale).where(Sale.uuid == sale["uuid"])).one()


def drifts(db: Database) -> list[SaleDrift]:
    with db.sessions() as s:
        return list(s.scalars(select(SaleDrift)).unique().all())


def test_the_store_and_central_agree(chain: tuple[Database, Replica]) -> None:
    db, replica = chain
    sale = sell_and_ingest(db, replica)
    assert sale.repriced
    # 10% sales rule, then the union's 5% on what is left; cigarettes untouched.
    assert sale.total == Decimal("1.80") + Decimal("2.55") + Decimal("5.50")
    assert drifts(db) == []


def test_a_policy_changed_later_does_not_make_old_sales_drift(
        chain: tuple[Database, Replica]) -> None:
    db, replica = chain
    with db.transaction() as s:
        policies.update(s, "sales", {"percent": "30"})
    # The store has not received the new version yet when it sells...
    sale = sell_and_ingest(db, replica)
    assert sale.total == Decimal("9.85")
    # ...and central prices it with the version the store used, not the newest.
    assert drifts(db) == []
    sync(db, replica, "kiosk-1")
    second = sell_and_ingest(db, replica)
    assert second.total < sale.total
    assert drifts(db) == []


def test_one_pass_prices_each_sale_with_its_own_versions(
        chain: tuple[Database, Replica]) -> None:
    # One pass shares its change-log reads between sales: only sales at the same versions
    # may share them.
    db, replica = chain
    before = sell_and_ingest(db, replica, reprice=False)
    with db.transaction() as s:
        policies.update(s, "sales", {"percent": "30"})
    sync(db, replica, "kiosk-1")
    after = sell_and_ingest(db, replica, reprice=False)
    wrong = sell_and_ingest(db, replica, tamper={"MILK": "2.00"}, reprice=False)
    assert after.total < before.total
    with db.transaction() as s:
        assert repricing.reprice_pending(s) == 3
    [drift] = drifts(db)
    assert drift.sale_id == wrong.id


def test_a_wrong_line_is_recorded_as_drift_not_overwritten(
        chain: tuple[Database, Replica]) -> None:
    db, replica = chain
    sale = sell_and_ingest(db, replica, tamper={"CIG": "5.22"})
    [drift] = drifts(db)
    assert drift.sale_id == sale.id
    details = json.loads(drift.details)
    assert details[0]["sku"] == "CIG" and details[0]["central_amount"] == "5.50"
    assert details[0]["store_amount"] == "5.22"
    # The store's figures stay as received.
    assert [line.amount for line in sale.lines if line.sku == "CIG"] == [Decimal("5.22")]


def test_drift_is_listed_at_central(chain: tuple[Database, Replica]) -> None:
    from central.app import create_app
    from tests.support import api_token, authorize

    db, replica = chain
    sale = sell_and_ingest(db, replica, tamper={"BREAD": "0.01"})
    client = authorize(create_app({"DATABASE": db, "TESTING": True}).test_client(),
                       api_token(db, "read-only"))
    listed = client.get("/api/v1/sales/drift?store=kiosk-1")
    assert listed.status_code == 200
    [row] = listed.get_json()
    assert row["sale"] == sale.uuid and row["store"] == "kiosk-1"
    assert row["details"][0]["sku"] == "BREAD"
    assert client.get("/api/v1/sales/drift?store=nowhere").get_json() == []


def test_a_sale_that_breaks_repricing_is_flagged_and_the_others_go_on(
        chain: tuple[Database, Replica], monkeypatch: pytest.MonkeyPatch) -> None:
    db, replica = chain
    odd = sell_and_ingest(db, replica, reprice=False)
    fine = sell_and_ingest(db, replica, reprice=False)
    real = repricing.reprice

    def reprice(session: Any, sale: Sale, cache: Any = None) -> Any:
        if sale.uuid == odd.uuid:
            raise RuntimeError("something nobody foresaw")
        return real(session, sale, cache)

    monkeypatch.setattr(repricing, "reprice", reprice)
    with db.transaction() as s:
        assert repricing.reprice_pending(s) == 2
    with db.sessions() as s:
        assert all(s.scalars(select(Sale.repriced)).all())
    [drift] = drifts(db)
    assert drift.sale_id == odd.id and drift.central_total is None
    assert "something nobody foresaw" in drift.details
    assert fine.id != drift.sale_id


def test_a_loyalty_gift_line_is_worth_zero_to_central_too(
        chain: tuple[Database, Replica]) -> None:
    db, replica = chain
    with db.transaction() as s:
        loyalty_profiles.create_profile(s, "BASE", {
            "description": "Standard", "default": True, "card_prefix": "29",
            "discount_percent": Decimal(0),
            "accrual": {"threshold": "1", "step": "1", "points_per_step": "1"}}, NOW)
        loyalty_programme.put_level(s, "L1", Decimal("10"))
        loyalty_programme.put_gift(s, "MILK", "L1")
        ada = customers.create(s, {"last_name": "Ada"}, now=NOW).id
        points_ledger.adjust(s, ada, Decimal("25"), "welcome", "test", NOW)
    sync(db, replica, "kiosk-1")
    request = {"uuid": str(uuid.uuid4()), "customer": ada,
               "lines": [{"code": "BREAD", "qty": "1"}, {"code": "MILK", "qty": "1", "gift": True}]}
    sale = sell_and_ingest(db, replica, request)
    assert sale.total == Decimal("1.89")  # the bread, 10% off; the milk a gift at 0
    assert drifts(db) == []
    # A store that charged for its gift line drifts.
    tampered = {**request, "uuid": str(uuid.uuid4())}
    sell_and_ingest(db, replica, tampered, tamper={"MILK": "1.49"})
    [drift] = drifts(db)
    assert json.loads(drift.details)[0] == {"line": 2, "sku": "MILK", "store_amount": "1.49",
                                            "central_amount": "0.00"}


def test_a_profiles_discount_is_priced_at_the_version_the_store_used_not_drift(
        chain: tuple[Database, Replica]) -> None:
    db, replica = chain
    with db.transaction() as s:
        # The default profile: a customer without a profile of their own is priced with it.
        loyalty_profiles.create_profile(s, "CLUB", {
            "description": "Club", "default": True, "card_prefix": "2990",
            "discount_percent": Decimal(5),
            "accrual": {"threshold": "1", "step": "1", "points_per_step": "1"}}, NOW)
        policies.update(s, "sales", {"active": False})
        ada = customers.create(s, {"last_name": "Ada"}, now=NOW).id
    sync(db, replica, "kiosk-1")
    lines = [{"code": "BREAD", "qty": "2"}, {"code": "CIG", "qty": "1"}]
    sale = sell_and_ingest(db, replica, {"uuid": str(uuid.uuid4()), "customer": ada,
                                         "lines": lines})
    # 2 x 2.10 = 4.20 less the Club's 5% (0.21); the cigarettes excluded, at 5.50.
    assert sale.total == Decimal("3.99") + Decimal("5.50")
    assert drifts(db) == []
    # The profile goes to 20% at central; the store has not heard yet and sells at 5%:
    # central prices that sale with version 1 of the profile, the one the store used.
    with db.transaction() as s:
        loyalty_profiles.update_profile(s, "CLUB", {"discount_percent": Decimal(20)}, NOW)
    older = sell_and_ingest(db, replica, {"uuid": str(uuid.uuid4()), "customer": ada,
                                          "lines": lines})
    assert older.total == sale.total
    assert drifts(db) == []
    # Once the store has version 2 it gives 20% (0.84 off the bread), still no drift.
    sync(db, replica, "kiosk-1")
    newer = sell_and_ingest(db, replica, {"uuid": str(uuid.uuid4()), "customer": ada,
                                          "lines": lines})
    assert newer.total == Decimal("3.36") + Decimal("5.50")
    # A Club card scanned without a customer: its profile's level from the loyalty stream
    # at the version the store had; then partner's 5% competes and loses to the 20%.
    card = sell_and_ingest(db, replica, {"uuid": str(uuid.uuid4()),
                                         "cards": ["2990000000019", "7700000000017"],
                                         "lines": lines})
    assert card.total == newer.total
    assert drifts(db) == []
    # A store that left the profile's discount out is drift.
    sell_and_ingest(db, replica, {"uuid": str(uuid.uuid4()), "customer": ada,
                                  "lines": lines}, tamper={"BREAD": "4.20"})
    [drift] = drifts(db)
    assert json.loads(drift.details)[0]["central_adjustments"] == [
        {"kind": "profile", "code": "CLUB", "amount": "0.84"}]
