"""Every ingested sale's points in the ledger, on PostgreSQL through the real ingest path:
central recomputes at the profile version the store used, once whatever the replays, a
difference from the store's figure is drift, a sale whose loyalty cannot be recorded is
kept and shown, a merged customer's sales go to the survivor, a return gives back exactly
the points of its lines."""

from __future__ import annotations

import datetime as dt
import json
import threading
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from central.db import Database
from central.models import Change, CustomerMerge, Sale
from central.models.loyalty import PointsDrift
from central.services import (
    catalog,
    changelog,
    customer_merges,
    customers,
    loyalty_profiles,
    loyalty_programme,
    points_ledger,
    stores,
)
from protocol import messages
from store_agent.pos.till import record_sale
from store_agent.sqlite_store import LocalStore
from store_agent.sync.replica import Replica
from tests.integration.test_customers import edit_entry, ingest
from tests.integration.test_ingest import EPOCH_A, EPOCH_B, STORE, batch, sale
from tests.integration.test_mqtt_bad_input import waiting_on_a_lock
from tests.support import wait_until

pytestmark = pytest.mark.integration

D = Decimal
NOW = dt.datetime(2026, 11, 22, 8, 0, tzinfo=dt.UTC)
LATER = NOW + dt.timedelta(minutes=1)  # b created after a: a survives their merge
# seeds/002: a point a euro from the first euro, 5 more for every 25 euro.
SEED = {"threshold": "1", "step": "1", "points_per_step": "1", "bonus_threshold": "25",
        "bonus_points": "5"}


@pytest.fixture
def db(clean_pg_db: Database) -> Iterator[Database]:
    with clean_pg_db.transaction() as session:
        stores.create_store(session, STORE, "Kiosk")
        catalog.create_category(session, "kids", "Kids")
        catalog.create_category(session, "toys", "Toys", "kids")
        for sku, category in (("BALL", "toys"), ("BREAD", None)):
            catalog.create_product(session, {"sku": sku, "name": sku, "category": category,
                                             "vat_rate": D("22"), "sale_price": D("10.00")})
        loyalty_profiles.create_profile(session, "BASE", {
            "description": "Standard", "default": True, "card_prefix": "29",
            "discount_percent": D(0), "accrual": SEED}, NOW)
        # Version 2 earns double: a sale the store computed with version 1 keeps version 1.
        loyalty_profiles.update_profile(session, "BASE", {
            "accrual": {**SEED, "points_per_step": "2"}}, NOW)
        # BALL is a gift of level L1 at 64 points (its own figure, not the level's 50).
        loyalty_programme.put_level(session, "L1", D(50), "Level 1")
        loyalty_programme.put_gift(session, "BALL", "L1", D(64))
    yield clean_pg_db


def loyalty_version(db: Database) -> int:
    with db.sessions() as session:
        return changelog.heads(session)["loyalty"]


def line(sku: str, amount: str) -> dict[str, Any]:
    return {"sku": sku, "barcode": None, "name": sku, "qty": "1", "unit_price": amount,
            "amount": amount, "vat_rate": "22.00"}


def loyal_sale(seq: int, customer: str | None, *lines: dict[str, Any], version: int = 1,
               points: str | None = None, gifts: list[dict[str, Any]] | None = None,
               profile: str = "BASE", **kw: Any) -> dict[str, Any]:
    total = str(sum((D(item["amount"]) for item in lines), D(0)))
    body = sale(seq, lines=list(lines), total=total, customer=customer,
                vat=[{"rate": "22.00", "gross": total, "net": total, "vat": "0.00"}],
                loyalty={"profile": profile, "profile_version": version, "points": points,
                         "gifts": gifts or []}, **kw)
    return {"seq": seq, "kind": "sale", "id": body["uuid"], "body": body}


def ledger(db: Database, customer: str) -> list[tuple[str, str, int, Decimal, int | None]]:
    with db.sessions() as session:
        return sorted((r.kind, r.document, r.line, r.points, r.profile_version)
                      for r in points_ledger.rows(session, customer))


def balance(db: Database, customer: str) -> Decimal:
    with db.sessions() as session:
        assert points_ledger.check_balances(session) == []
        return points_ledger.balance(session, customer)


def drifts(db: Database) -> list[PointsDrift]:
    with db.sessions() as session:
        return list(session.scalars(select(PointsDrift).order_by(PointsDrift.id)))


def test_a_sale_earns_at_the_version_the_store_used_once_whatever_the_replays(
        db: Database) -> None:
    cid = str(uuid.uuid4())
    sold = loyal_sale(2, cid, line("BREAD", "60.00"), line("BREAD", "40.00"), points="120")
    ingest(db, batch(edit_entry(1, cid, {"first_name": "Ana"}), sold))
    # 100 points + 4 x 5 bonus at version 1 (version 2 would give 220), split by line.
    assert balance(db, cid) == 120
    assert {(kind, doc, version) for kind, doc, _, _, version in ledger(db, cid)} == {
        ("earn", sold["id"], 1)}
    before = ledger(db, cid)
    ingest(db, batch(sold))  # a resend of the same epoch: the cursor skips it
    ingest(db, batch(sold, epoch=EPOCH_B))  # the same sale under a new epoch
    assert ledger(db, cid) == before
    assert drifts(db) == []  # the store printed central's figure


def test_a_sale_without_loyalty_or_without_a_customer_adds_nothing(db: Database) -> None:
    cid = str(uuid.uuid4())
    plain = sale(2, customer=cid)
    ingest(db, batch(edit_entry(1, cid, {"first_name": "Ana"}),
                     {"seq": 2, "kind": "sale", "id": plain["uuid"], "body": plain},
                     loyal_sale(3, None, line("BREAD", "5.00"), points="5")))
    assert ledger(db, cid) == []
    [row] = drifts(db)  # loyalty without a customer: shown, the sale kept
    assert (row.kind, row.customer_id) == ("unrecorded", None)
    assert "names no customer" in row.reason


def test_the_stores_other_figure_is_drift_and_the_ledger_has_centrals(db: Database) -> None:
    cid = str(uuid.uuid4())
    sold = loyal_sale(2, cid, line("BREAD", "30.00"), points="31")
    ingest(db, batch(edit_entry(1, cid, {"first_name": "Ana"}), sold))
    assert balance(db, cid) == 35  # 30 + 5 bonus: central decides
    [row] = drifts(db)
    assert (row.kind, row.sale_uuid, row.store, row.customer_id, row.store_points,
            row.central_points, row.profile_code, row.profile_version) == (
        "difference", sold["id"], STORE, cid, D(31), D(35), "BASE", 1)


def test_an_unrecordable_loyalty_keeps_the_sale_and_does_not_block_the_stream(
        db: Database) -> None:
    cid = str(uuid.uuid4())
    unknown = loyal_sale(2, cid, line("BREAD", "10.00"), version=9, points="10")
    bad_gift = loyal_sale(3, cid, line("BREAD", "10.00"), gifts=[{"line": 4, "points": "5"}])
    two_gifts = loyal_sale(4, cid, line("BALL", "5.00"), line("BALL", "5.00"),
                           gifts=[{"line": 0, "points": "5"}, {"line": 1, "points": "5"}])
    fine = loyal_sale(5, cid, line("BREAD", "10.00"), points="10")
    result = ingest(db, batch(edit_entry(1, cid, {"first_name": "Ana"}), unknown, bad_gift,
                              two_gifts, fine))
    assert (result.acked, result.applied, result.parked) == (5, 5, 0)
    with db.sessions() as session:
        assert session.query(Sale).count() == 4  # every sale kept
    assert balance(db, cid) == 10  # the good sale recorded
    reasons = {row.sale_uuid: (row.kind, row.reason) for row in drifts(db)}
    assert reasons[unknown["id"]][0] == "unrecorded"
    assert "no version 9" in reasons[unknown["id"]][1]
    assert "no line 4" in reasons[bad_gift["id"]][1]
    assert "only one gift per sale" in reasons[two_gifts["id"]][1]
    assert fine["id"] not in reasons


def test_a_gift_spends_the_points_the_store_spent_and_earns_nothing(db: Database) -> None:
    cid = str(uuid.uuid4())
    with db.transaction() as session:
        points_ledger.adjust(session, cid, D(100), "opening balance", "ops", NOW)
    sold = loyal_sale(2, cid, line("BREAD", "10.00"), line("BALL", "5.10"), points="10",
                      gifts=[{"line": 1, "points": "64"}])
    ingest(db, batch(edit_entry(1, cid, {"first_name": "Ana"}), sold))
    assert [(k, n, p) for k, doc, n, p, _ in ledger(db, cid) if doc == sold["id"]] == [
        ("earn", 0, D(10)), ("spend", 1, D(-64))]
    assert balance(db, cid) == 46
    assert drifts(db) == []


def test_a_gift_costs_centrals_figure_and_another_spent_at_the_store_is_a_difference(
        db: Database) -> None:
    cid = str(uuid.uuid4())
    with db.transaction() as session:
        points_ledger.adjust(session, cid, D(100), "opening balance", "ops", NOW)
    sold = loyal_sale(2, cid, line("BREAD", "10.00"), line("BALL", "5.10"), points="10",
                      gifts=[{"line": 1, "points": "40"}])
    ingest(db, batch(edit_entry(1, cid, {"first_name": "Ana"}), sold))
    assert [(k, n, p) for k, doc, n, p, _ in ledger(db, cid) if doc == sold["id"]] == [
        ("earn", 0, D(10)), ("spend", 1, D(-64))]
    assert balance(db, cid) == 46
    [row] = drifts(db)
    assert (row.kind, row.sale_uuid, row.store_points, row.central_points) == (
        "difference", sold["id"], D(10), D(10))
    assert f"BALL on line 1 costs 64.00 points at loyalty version {loyalty_version(db)}, " \
           "the store spent 40" in row.reason


def test_a_gift_costs_what_it_cost_at_the_loyalty_version_the_store_had(db: Database) -> None:
    cid = str(uuid.uuid4())
    had = loyalty_version(db)
    with db.transaction() as session:
        points_ledger.adjust(session, cid, D(100), "opening balance", "ops", NOW)
        # Head office raises the gift while the kiosk, offline, still sells at 64.
        loyalty_programme.put_gift(session, "BALL", "L1", D(80))
    sold = loyal_sale(2, cid, line("BALL", "5.10"), gifts=[{"line": 0, "points": "64"}],
                      streams={"loyalty": had})
    later = loyal_sale(3, cid, line("BALL", "5.10"), gifts=[{"line": 0, "points": "80"}],
                       streams={"loyalty": had + 1})
    ingest(db, batch(edit_entry(1, cid, {"first_name": "Ana"}), sold, later))
    assert sorted(p for k, doc, _, p, _ in ledger(db, cid) if k == "spend") == [D(-80), D(-64)]
    assert drifts(db) == []


def test_a_line_that_was_no_gift_is_unrecorded_and_its_sale_kept(db: Database) -> None:
    cid = str(uuid.uuid4())
    sold = loyal_sale(2, cid, line("BREAD", "10.00"), gifts=[{"line": 0, "points": "1"}])
    result = ingest(db, batch(edit_entry(1, cid, {"first_name": "Ana"}), sold))
    assert (result.acked, result.applied) == (2, 2)
    assert ledger(db, cid) == []
    [row] = drifts(db)
    assert row.kind == "unrecorded"
    assert f"line 0: BREAD is no gift at loyalty version {loyalty_version(db)}" in row.reason


def test_categories_come_with_their_ancestors_from_the_catalogue_the_store_had(
        db: Database) -> None:
    with db.transaction() as session:
        loyalty_profiles.update_profile(session, "BASE", {"accrual": {
            **SEED, "apply_grid": True,
            "grid": [{"points_per_euro": "1", "category": "kids", "brand": None}]}}, NOW)
    cid = str(uuid.uuid4())
    # BALL is in toys, under kids: the grid entry for kids gives it a point a euro more.
    sold = loyal_sale(2, cid, line("BALL", "10.00"), line("BREAD", "10.00"), version=3,
                      points="30")
    ingest(db, batch(edit_entry(1, cid, {"first_name": "Ana"}), sold))
    assert balance(db, cid) == 30
    assert drifts(db) == []


def test_a_sale_naming_a_merged_customer_goes_to_the_survivor(db: Database) -> None:
    a, b = str(uuid.uuid4()), str(uuid.uuid4())
    ingest(db, batch(edit_entry(1, a, {"first_name": "Ana"}),
                     edit_entry(2, b, {"city": "X"}, at=LATER),
                     loyal_sale(3, b, line("BREAD", "10.00"), points="10")))
    with db.transaction() as session:
        survivor = customer_merges.merge(session, a, b, by="alice").id
    loser = b
    ingest(db, batch(loyal_sale(4, loser, line("BREAD", "20.00"), points="20")))
    assert balance(db, survivor) == 30  # 10 moved by the merge, 20 from the later sale
    assert balance(db, loser) == 0


def test_a_return_gives_back_exactly_the_points_of_the_lines_returned(db: Database) -> None:
    """The gift rule: returning a gift line gives back the points the gift spent; returning
    a line that earned takes its points back (even if spent meanwhile)."""
    cid = str(uuid.uuid4())
    with db.transaction() as session:
        points_ledger.adjust(session, cid, D(100), "opening balance", "ops", NOW)
    sold = loyal_sale(2, cid, line("BREAD", "30.00"), line("BREAD", "20.00"),
                      line("BALL", "5.10"), points="60", gifts=[{"line": 2, "points": "64"}])
    ingest(db, batch(edit_entry(1, cid, {"first_name": "Ana"}), sold))
    earned = {n: p for k, doc, n, p, _ in ledger(db, cid) if k == "earn"}
    assert sum(earned.values()) == 60 and balance(db, cid) == 96
    returned = str(uuid.uuid4())  # the return entry of this test: line 1 of the sale
    with db.transaction() as session:
        points_ledger.reverse_lines(session, cid, sold["id"], returned, [(0, 1)], NOW, STORE,
                                    NOW)
    assert balance(db, cid) == 96 - earned[1]
    with db.transaction() as session:  # then the rest, the gift too: back to the start
        points_ledger.reverse_lines(session, cid, sold["id"], str(uuid.uuid4()),
                                    [(0, 0), (1, 2)], NOW, STORE, NOW)
    assert balance(db, cid) == 100
    assert {k for k, *_ in ledger(db, cid)} == {"adjustment", "earn", "spend", "reversal"}


def test_customers_resolve_many_follows_chains(db: Database) -> None:
    ids = [str(uuid.uuid4()) for _ in range(3)]
    ingest(db, batch(*(edit_entry(i + 1, cid, {"first_name": f"N{i}"})
                       for i, cid in enumerate(ids)), epoch=EPOCH_A))
    with db.transaction() as session:
        first = customer_merges.merge(session, ids[0], ids[1], by="alice").id
        last = customer_merges.merge(session, first, ids[2], by="alice").id
    with db.sessions() as session:
        found = customers.resolve_many(session, [*ids, "nobody"])
        assert found == {**{cid: customers.resolve(session, cid) for cid in ids},
                         "nobody": "nobody"}
        assert set(found.values()) - {"nobody"} == {last}


def test_a_merge_moves_the_balance_to_the_survivor_once_and_both_cards_earn(
        db: Database) -> None:
    a, b = str(uuid.uuid4()), str(uuid.uuid4())
    ingest(db, batch(edit_entry(1, a, {"first_name": "Ana"}),
                     edit_entry(2, b, {"city": "X"}, at=LATER),
                     loyal_sale(3, a, line("BREAD", "7.00"), points="7"),
                     loyal_sale(4, b, line("BREAD", "30.00"), points="35")))
    with db.transaction() as session:
        survivor = customer_merges.merge(session, a, b, by="alice").id
        exported = customer_merges.export(session, survivor)
    loser = b
    assert survivor == a
    assert [m["points_moved"] for m in exported["audit"]] == ["35.00"]
    assert (balance(db, survivor), balance(db, loser)) == (42, 0)
    transfers = sorted((c, doc, p) for c in (a, b) for k, doc, _, p, _ in ledger(db, c)
                       if k == "transfer")
    assert transfers == sorted([(a, f"merge:{_merge_id(db)}", D(35)),
                                (b, f"merge:{_merge_id(db)}", D(-35))])
    # Moving the same merge again moves nothing (replay-safe by the merge's key).
    with db.transaction() as session:
        assert points_ledger.transfer_balance(session, loser, survivor,
                                              f"merge:{_merge_id(db)}", "again", NOW) == 0
    # Both customers' ids keep working: a sale naming either earns on the survivor.
    ingest(db, batch(loyal_sale(5, a, line("BREAD", "1.00"), points="1"),
                     loyal_sale(6, b, line("BREAD", "1.00"), points="1")))
    assert (balance(db, survivor), balance(db, loser)) == (44, 0)


def test_a_return_of_a_merged_customers_sale_reaches_the_survivor(db: Database) -> None:
    a, b = str(uuid.uuid4()), str(uuid.uuid4())
    sold = loyal_sale(3, b, line("BREAD", "30.00"), line("BREAD", "10.00"), points="45")
    ingest(db, batch(edit_entry(1, a, {"first_name": "Ana"}),
                     edit_entry(2, b, {"city": "X"}, at=LATER),
                     sold))
    with db.transaction() as session:
        survivor = customer_merges.merge(session, a, b, by="alice").id
    loser = b
    assert survivor == a
    earned = {n: p for k, doc, n, p, _ in ledger(db, loser) if k == "earn"}
    with db.transaction() as session:
        points_ledger.reverse_lines(session, survivor, sold["id"], "return-1", [(0, 1)], NOW,
                                    STORE, NOW)
    assert (balance(db, survivor), balance(db, loser)) == (45 - earned[1], 0)
    assert [k for k, doc, *_ in ledger(db, loser) if doc == "return-1"] == ["reversal"]


def _merge_id(db: Database) -> int:
    with db.sessions() as session:
        return session.scalars(select(CustomerMerge.id)).one()


def test_a_sale_ingested_while_its_customer_is_being_merged_reaches_the_survivor(
        db: Database) -> None:
    """A batch naming the merged id waits on the customer's row lock (aggregates come
    before points in the sale handler), so it reads the redirect and books on the
    survivor: no points stranded on the merged id."""
    a, b = str(uuid.uuid4()), str(uuid.uuid4())
    ingest(db, batch(edit_entry(1, a, {"first_name": "Ana"}),
                     edit_entry(2, b, {"city": "X"}, at=LATER),
                     loyal_sale(3, b, line("BREAD", "10.00"), points="10")))
    outcome: list[object] = []

    def late_sale() -> None:
        try:
            outcome.append(ingest(db, batch(loyal_sale(4, b, line("BREAD", "20.00"),
                                                       points="20"))).applied)
        except Exception as exc:  # noqa: BLE001 - the failure is the finding
            outcome.append(exc)

    with db.transaction() as session:
        customer_merges.merge(session, a, b, by="alice")
        thread = threading.Thread(target=late_sale)
        thread.start()
        wait_until(lambda: waiting_on_a_lock(db), 10, what="the sale waiting for the merge")
    thread.join(10)
    assert outcome == [1]
    assert (balance(db, a), balance(db, b)) == (30, 0)


def test_points_generated_by_products_agree_at_the_till_and_at_central(
        db: Database, tmp_path: Path) -> None:
    """SPEC L2 "points taken from the product record": head office gives BREAD 3 points a
    unit; the till's provisional points and central's recomputation read the same field."""
    with db.transaction() as session:
        catalog.update_product(session, "BREAD", {"points_generated": D("3")})
        loyalty_profiles.update_profile(session, "BASE", {
            "accrual": {**SEED, "points_from_products": True}}, NOW)
        made = customers.create(session, {"first_name": "Ana", "last_name": "Rossi"})
        cid = made.id
    agent = LocalStore(tmp_path / "agent.db")
    with db.sessions() as session:
        streams = sorted({c.stream for c in session.scalars(select(Change))})
        for name in streams:
            rows = [{"version": c.version, "entity": c.entity, "key": c.key, "op": c.op,
                     "data": None if c.data is None else json.loads(c.data)}
                    for c in session.scalars(select(Change).where(Change.stream == name)
                                             .order_by(Change.version))]
            Replica(agent).apply(messages.parse(messages.envelope(
                "changes", stream=name, log_epoch="e1", changes=rows)))
    sold = record_sale(agent, STORE, {"uuid": str(uuid.uuid4()), "customer": cid,
                                      "lines": [{"code": "BREAD", "qty": "2"},
                                                {"code": "BALL", "qty": "1"}]}, NOW).sale
    # 2 x 3 points for the bread, none for the ball; 30.00 spent: one bonus of 5.
    assert sold["loyalty"]["points"] == "11"
    body = json.loads(json.dumps(sold))
    ingest(db, batch({"seq": 1, "kind": "sale", "id": body["uuid"], "body": body}))
    assert balance(db, cid) == 11
    assert drifts(db) == []
