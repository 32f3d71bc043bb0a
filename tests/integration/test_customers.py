"""The customer registry at central on real PostgreSQL: edits, the upstream handler under
replays and concurrent edits, merges, erasure, aggregates and find_customer."""

from __future__ import annotations

import datetime as dt
import json
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from central.bridge.ingester import HANDLERS
from central.db import Database
from central.models import Change, CustomerMerge, ParkedEntry
from central.services import (
    customer_fields,
    customer_fold,
    customer_merges,
    customer_upstream,
    customers,
    stores,
    upstream,
)
from central.services.errors import Conflict, Invalid
from rules.barcodes import ean_check_digit
from tests.integration.test_ingest import EPOCH_A, EPOCH_B, STORE, batch, sale

pytestmark = pytest.mark.integration

OTHER = "kiosk-2"
T0 = dt.datetime(2026, 11, 22, 8, 0, tzinfo=dt.UTC)


def card(serial: int) -> str:
    body = f"299{serial:09d}"
    return body + str(ean_check_digit(body))


def edit_entry(seq: int, customer: str, changes: dict[str, Any], *, at: dt.datetime = T0,
               store: str = STORE, cards: tuple[str, ...] = (), edit: str | None = None,
               retire: tuple[str, ...] = ()) -> dict[str, Any]:
    edit = edit or str(uuid.uuid4())
    return {"seq": seq, "kind": "customer", "id": edit, "body": {
        "customer": customer, "edit": edit, "at": at.isoformat(), "store": store,
        "changes": changes, "add_cards": [{"number": c, "kind": "loyalty"} for c in cards],
        "retire_cards": list(retire)}}


def misread(serial: int) -> str:
    good = card(serial)
    return good[:-1] + str((int(good[-1]) + 1) % 10)


def sale_entry(seq: int, customer: str, total: str = "2.30", **kw: Any) -> dict[str, Any]:
    body = sale(seq, customer=customer, total=total, **kw)
    return {"seq": seq, "kind": "sale", "id": body["uuid"], "body": body}


def ingest(db: Database, message: dict[str, Any]) -> upstream.IngestResult:
    with db.transaction() as session:
        return upstream.ingest_batch(session, message, "test/up", HANDLERS)


def record_of(db: Database, customer_id: str) -> dict[str, Any]:
    with db.sessions() as session:
        return customers.wire(customers.get(session, customer_id))


def customer_changes(db: Database) -> list[tuple[str, str, str]]:
    with db.sessions() as session:
        return [(c.entity, c.key, c.op) for c in session.scalars(
            select(Change).where(Change.stream == "customers").order_by(Change.version))]


@pytest.fixture
def db(clean_pg_db: Database) -> Iterator[Database]:
    with clean_pg_db.transaction() as session:
        stores.create_store(session, STORE, "Kiosk")
        stores.create_store(session, OTHER, "Kiosk two")
    yield clean_pg_db


def test_a_customer_created_at_a_store_reaches_the_stream_with_its_card(db: Database) -> None:
    cid = str(uuid.uuid4())
    result = ingest(db, batch(edit_entry(1, cid, {"first_name": "Ștefan",
                                                 "last_name": "D'Amico",
                                                 "mobile": "333 123 4567"}, cards=(card(1),))))
    assert (result.applied, result.parked) == (1, 0)
    data = record_of(db, cid)
    # the store's zone (Europe/Rome by default) gives the phone's region
    assert data["mobile"] == "+393331234567"
    assert data["search_key"] == "stefan damico"
    assert set(data["stamps"]) == {"first_name", "last_name", "mobile"}
    assert ("customer", cid, "upsert") in customer_changes(db)
    assert ("customer_card", card(1), "upsert") in customer_changes(db)


def test_a_replayed_edit_and_the_same_edit_under_a_new_epoch_change_nothing(
        db: Database) -> None:
    cid = str(uuid.uuid4())
    first = edit_entry(1, cid, {"first_name": "Ana"})
    ingest(db, batch(first))
    before = customer_changes(db)
    again = ingest(db, batch(first))
    assert (again.applied, again.duplicates) == (0, 1)
    restored = ingest(db, batch(first, epoch=EPOCH_B))
    assert (restored.applied, restored.duplicates) == (0, 1)
    assert customer_changes(db) == before


def test_two_stores_edit_one_customer_offline_field_by_field_later_clock_wins(
        db: Database) -> None:
    cid = str(uuid.uuid4())
    ingest(db, batch(edit_entry(1, cid, {"first_name": "Ana", "city": "Roma"})))
    late = T0 + dt.timedelta(hours=2)
    # kiosk-2's edit is later by its clock but arrives first; kiosk-1's earlier one after
    ingest(db, batch(edit_entry(1, cid, {"city": "Milano"}, at=late, store=OTHER),
                     store=OTHER))
    ingest(db, batch(edit_entry(2, cid, {"city": "Torino", "last_name": "Rossi"},
                                at=T0 + dt.timedelta(hours=1))))
    data = record_of(db, cid)
    assert (data["city"], data["last_name"], data["first_name"]) == ("Milano", "Rossi", "Ana")
    with db.sessions() as session:
        history = customer_merges.export(session, cid)["history"]
    assert [h["changes"].get("city") for h in history] == ["Roma", "Torino", "Milano"]


def test_concurrent_edits_of_one_customer_serialise_and_both_are_kept(db: Database) -> None:
    cid = str(uuid.uuid4())
    ingest(db, batch(edit_entry(1, cid, {"first_name": "Ana"})))
    errors: list[BaseException] = []

    def send(store: str, epoch: str, field: str, value: str, minute: int) -> None:
        try:
            ingest(db, batch(edit_entry(2 if store == STORE else 1, cid, {field: value},
                                        at=T0 + dt.timedelta(minutes=minute), store=store),
                             store=store, epoch=epoch))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=send, args=(STORE, EPOCH_A, "city", "Roma", 5)),
               threading.Thread(target=send, args=(OTHER, EPOCH_A, "postcode", "00100", 6))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors
    data = record_of(db, cid)
    assert (data["city"], data["postcode"]) == ("Roma", "00100")


def test_a_bad_edit_is_parked_naming_the_field_and_the_next_one_applies(db: Database) -> None:
    cid = str(uuid.uuid4())
    result = ingest(db, batch(edit_entry(1, cid, {"email": "not an address"}),
                              edit_entry(2, cid, {"first_name": "Ana"}, cards=(misread(1),)),
                              edit_entry(3, cid, {"first_name": "Ana"})))
    assert (result.acked, result.applied, result.parked) == (3, 1, 2)
    with db.sessions() as session:
        reasons = list(session.scalars(select(ParkedEntry.reason).order_by(ParkedEntry.seq)))
    assert "email" in reasons[0] and "check digit" in reasons[1]
    assert record_of(db, cid)["first_name"] == "Ana"


def test_sales_that_name_a_customer_make_its_aggregates_and_returns_subtract(
        db: Database) -> None:
    cid = str(uuid.uuid4())
    sold = sale_entry(2, cid, "10.00", created_at="2026-11-22T09:00:00+00:00")
    result = ingest(db, batch(edit_entry(1, cid, {"first_name": "Ana"}), sold,
                              sale_entry(3, cid, "30.00",
                                         created_at="2026-11-23T09:00:00+00:00"),
                              sale_entry(4, cid, "-5.00")))
    assert result.applied == 4
    ingest(db, batch(sold, epoch=EPOCH_B))  # the same sale again: counted once
    data = record_of(db, cid)
    assert (data["total_spend"], data["visits"], data["average_basket"]) == (
        "35.00", 2, "17.50")
    assert data["first_purchase"].startswith("2026-11-22T09:00")
    assert data["last_purchase"].startswith("2026-11-23T09:00")


def test_the_same_card_at_two_stores_merges_automatically(db: Database) -> None:
    a, b = str(uuid.uuid4()), str(uuid.uuid4())
    ingest(db, batch(edit_entry(1, a, {"first_name": "Ana"}, cards=(card(7),))))
    ingest(db, batch(edit_entry(1, b, {"mobile": "+40721000000"},
                                at=T0 + dt.timedelta(minutes=1), store=OTHER,
                                cards=(card(7),)), store=OTHER))
    data = record_of(db, b)  # the old id finds the survivor
    assert data["id"] == a and (data["first_name"], data["mobile"]) == ("Ana", "+40721000000")
    assert ("customer_redirect", b, "upsert") in customer_changes(db)
    assert ("customer", b, "delete") in customer_changes(db)
    with db.sessions() as session:
        audit = session.scalars(select(CustomerMerge)).one()
    assert (audit.survivor, audit.merged, audit.reason) == (a, b, "same card (automatic)")


def test_a_confirmed_merge_keeps_both_cards_sales_and_history(db: Database) -> None:
    a, b = str(uuid.uuid4()), str(uuid.uuid4())
    ingest(db, batch(edit_entry(1, a, {"first_name": "Ana", "mobile": "+40721000000"},
                                cards=(card(1),)), sale_entry(2, a, "4.00")))
    ingest(db, batch(edit_entry(1, b, {"mobile": "+40721000000", "city": "Iasi"},
                                at=T0 + dt.timedelta(minutes=1), store=OTHER,
                                cards=(card(2),)),
                     sale_entry(2, b, "6.00", store=OTHER), store=OTHER))
    with db.transaction() as session:
        customer_merges.merge(session, b, a, by="alice")
    with db.sessions() as session:
        survivor = customers.get(session, b)
        assert survivor.id == a
        assert [c.number for c in customers.cards_of(session, a)] == [card(1), card(2)]
        exported = customer_merges.export(session, b)
    assert exported["customer"]["total_spend"] == "10.00"
    assert exported["customer"]["city"] == "Iasi"
    assert len(exported["history"]) == 2 and exported["merged_from"] == [b]
    assert exported["audit"][0]["by"] == "alice"
    # a sale and an edit still naming the old id go to the survivor
    ingest(db, batch(edit_entry(3, b, {"postcode": "700001"}), sale_entry(4, b, "1.00")))
    data = record_of(db, a)
    assert (data["postcode"], data["total_spend"]) == ("700001", "11.00")


def test_erasure_is_final_even_against_an_older_copys_edit(db: Database) -> None:
    cid = str(uuid.uuid4())
    ingest(db, batch(edit_entry(1, cid, {"first_name": "Ana", "home_store": STORE},
                                cards=(card(3),)), sale_entry(2, cid, "9.00")))
    with db.transaction() as session:
        customer_merges.erase(session, cid, by="dpo")
    # a store that was offline sends an edit made before the erasure, and one after
    ingest(db, batch(edit_entry(1, cid, {"first_name": "Ana", "email": "ana@example.com"},
                                at=T0 + dt.timedelta(minutes=5), store=OTHER), store=OTHER))
    data = record_of(db, cid)
    assert data["erased"] is True
    assert (data["first_name"], data["email"], data["home_store"]) == (None, None, STORE)
    assert data["total_spend"] == "9.00"
    with db.sessions() as session:
        exported = customer_merges.export(session, cid)
        assert customers.find(session, card=card(3)) is None
    assert "Ana" not in json.dumps(exported)
    assert [c["active"] for c in exported["cards"]] == [False]


def test_find_customer_by_card_mobile_and_email(db: Database) -> None:
    cid = str(uuid.uuid4())
    ingest(db, batch(edit_entry(1, cid, {"first_name": "Ana", "mobile": "+40721000000",
                                         "email": "Ana@Example.COM"}, cards=(card(4),))))
    handler = customer_upstream.FindCustomerHandler()
    with db.sessions() as session:
        store = stores.get_store(session, STORE)
        for body in ({"card": card(4)}, {"mobile": "+40 721 000 000"},
                     {"email": "ana@example.com"}):
            found = handler.answer(session, store, body, T0)
            assert found["found"] and found["customer"]["id"] == cid, body
            assert [c["number"] for c in found["cards"]] == [card(4)]
        assert handler.answer(session, store, {"card": card(5)}, T0)["found"] is False


def test_head_office_edits_are_validated_naming_each_field(db: Database) -> None:
    with db.transaction() as session:
        customer_fields.save_field(session, {"code": "shoe_size", "label": "Shoe size",
                                       "kind": "number"})
        customer_fields.set_mandatory(session, ["last_name"])
    with db.transaction() as session, pytest.raises(Invalid) as bad:
        customers.create(session, {"first_name": "Ana", "email": "nope", "mobile": "12",
                                   "extra.colour": "red", "extra.shoe_size": "big",
                                   "cards": [{"number": misread(1)}]})
    assert set(bad.value.errors) == {"email", "mobile", "extra.colour", "extra.shoe_size",
                                     "last_name", "cards[0].number"}
    with db.transaction() as session:
        made = customers.create(session, {"last_name": "Rossi", "extra.shoe_size": "42",
                                          "cards": [{"number": card(9)}]})
        assert customers.wire(made)["extra"] == {"shoe_size": "42"}
        with pytest.raises(Conflict):
            customers.create(session, {"last_name": "Other", "cards": [{"number": card(9)}]})



def test_sales_patch_only_the_aggregates_and_a_refold_finds_nothing_to_change(
        central_db: Database) -> None:
    """Ingest updates the sales keys of each record without refolding it: whatever it
    writes is what a full refold writes (same text, no further change in the stream)."""
    db = central_db
    with db.transaction() as session:
        stores.create_store(session, STORE, "Kiosk")
        stores.create_store(session, OTHER, "Kiosk two")
        customer_fields.save_field(session, {"code": "shoe_size", "label": "Shoe size",
                                             "kind": "number"})
    ana, bob, kept, merged, gone, unknown = (str(uuid.uuid4()) for _ in range(6))
    ingest(db, batch(
        edit_entry(1, ana, {"first_name": "Ștefan", "last_name": "D'Amico",
                            "extra.shoe_size": "42.5"}, cards=(card(1),)),
        sale_entry(2, ana, "10.00", created_at="2026-11-22T09:00:00+00:00"),
        edit_entry(3, bob, {"first_name": "Bob", "mobile": "+40721000001"}),
        edit_entry(4, kept, {"first_name": "Dana"}),  # created first: survives the merge
        edit_entry(5, merged, {"mobile": "+40721000002", "city": "Iași"},
                   at=T0 + dt.timedelta(minutes=1), cards=(card(2),)),
        sale_entry(6, merged, "4.00"),
        edit_entry(7, gone, {"first_name": "Eve", "home_store": STORE}),
        sale_entry(8, gone, "9.00")))
    with db.transaction() as session:
        assert customer_merges.merge(session, kept, merged, by="alice").id == kept
        customer_merges.erase(session, gone, by="dpo")
    result = ingest(db, batch(
        sale_entry(9, ana, "5.00", created_at="2026-11-24T09:00:00+00:00"),  # returning
        sale_entry(10, ana, "-2.00"),  # a return
        sale_entry(11, bob, "7.50"),  # a first sale
        sale_entry(12, merged, "3.00"),  # names the merged id: the survivor's
        sale_entry(13, gone, "1.00"),  # erased: refolded as before
        sale_entry(14, unknown, "6.00")))  # not known yet: no row to update
    assert result.applied == 6
    expected = {ana: ("13.00", 2, "6.50"), bob: ("7.50", 1, "7.50"),
                kept: ("7.00", 2, "3.50"), gone: ("10.00", 2, "5.00")}
    with db.sessions() as session:
        for cid, (spend, visits, basket) in expected.items():
            customer = customers.get(session, cid)
            data = customers.wire(customer)
            assert (data["total_spend"], data["visits"], data["average_basket"]) == (
                spend, visits, basket)
            assert (str(customer.total_spend), customer.visits) == (spend, visits)
            last = session.scalars(select(Change).where(
                Change.stream == "customers", Change.entity == "customer",
                Change.key == cid).order_by(Change.version.desc()).limit(1)).one()
            assert last.data == customer.data  # the stream carries the stored text
        assert customers.wire(customers.get(session, ana))["extra"] == {"shoe_size": "42.5"}
        assert customers.get(session, ana).returns == 1
    before = customer_changes(db)
    with db.sessions() as session:
        texts = {cid: customers.get(session, cid).data for cid in expected}
    with db.transaction() as session:
        for cid in expected:
            customer_fold.refresh(session, customers.get(session, cid, lock=True))
    with db.sessions() as session:
        assert {cid: customers.get(session, cid).data for cid in expected} == texts
    assert customer_changes(db) == before
