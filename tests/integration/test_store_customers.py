"""Customers at the store: the copy central sends, the till's lookups, edits made here."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from protocol import messages, upstream
from rules.barcodes import ean_check_digit
from rules.cards import loyalty_card_number
from rules.customers.record import CustomerInvalid
from store_agent.pos.customers import Customers, UnknownCustomer
from store_agent.pos.till import UnknownSaleCustomer, record_sale
from store_agent.settings import CustomerSettings
from store_agent.sqlite_store import LocalStore
from store_agent.sync.replica import Replica
from transport.rpc import CentralUnreachable

NOW = dt.datetime(2026, 11, 22, 9, 30, tzinfo=dt.UTC)
STORE = "kiosk-1"
MULLER = "11111111-1111-4111-8111-111111111111"
STEFAN = "22222222-2222-4222-8222-222222222222"
DAMICO = "33333333-3333-4333-8333-333333333333"
CARD = loyalty_card_number("299", 1)


def customer(cid: str, **fields: Any) -> dict[str, Any]:
    return {"id": cid, "first_name": None, "last_name": None, "extra": {}, "stamps": {},
            **fields}


class Central:
    """What central's log sends the store: one stream, versions in order."""

    def __init__(self, store: LocalStore) -> None:
        self.replica = Replica(store)
        self.version = 0

    def send(self, *items: tuple[str, str, dict[str, Any] | None]) -> None:
        changes = []
        for entity, key, data in items:
            self.version += 1
            changes.append({"version": self.version, "entity": entity, "key": key,
                            "op": "delete" if data is None else "upsert", "data": data})
        result = self.replica.apply(messages.parse(messages.envelope(
            "changes", stream="customers", log_epoch="e1", changes=changes)))
        assert not result.hole

    def snapshot(self, items: list[tuple[str, str, dict[str, Any]]]) -> None:
        self.version += 1
        self.replica.apply_snapshot(messages.parse(messages.envelope(
            "snapshot", stream="customers", log_epoch="e1", version=self.version,
            snapshot=uuid.uuid4().hex, part=1, parts=1,
            entries=[{"entity": e, "key": k, "data": d} for e, k, d in items])))


@pytest.fixture
def store(tmp_path: Path) -> LocalStore:
    store = LocalStore(tmp_path / "agent.db")
    bread = {"sku": "bread", "name": "Bread", "category": None, "brand": None,
             "vat_rate": "9.00", "sale_price": "1.15", "active": True, "barcodes": []}
    Replica(store).apply(messages.parse(messages.envelope(
        "changes", stream="catalog", log_epoch="e1",
        changes=[{"version": 1, "entity": "product", "key": "bread", "op": "upsert",
                  "data": bread}])))
    return store


def sale_to(customer_id: str) -> dict[str, Any]:
    return {"uuid": str(uuid.uuid4()), "lines": [{"code": "bread", "qty": "1"}],
            "customer": customer_id}


@pytest.fixture
def central(store: LocalStore) -> Central:
    central = Central(store)
    central.send(
        ("customer", MULLER, customer(MULLER, first_name="Jürgen", last_name="Müller",
                                      mobile="+393471234567", email="jm@example.com",
                                      observation="Pays by cheque only",
                                      total_spend="1500.00", visits=3)),
        ("customer", STEFAN, customer(STEFAN, first_name="Ștefan", last_name="Popescu")),
        ("customer", DAMICO, customer(DAMICO, first_name="Lucia", last_name="D'Amico")),
        ("customer_card", CARD, {"number": CARD, "customer": MULLER, "kind": "loyalty",
                                 "active": True}),
        ("customer_alert", "spend", {"code": "spend", "position": 2,
                                     "condition": "total_spend >= 1000",
                                     "message": "Top customer: thank them"}),
        ("customer_alert", "sms", {"code": "sms", "position": 1,
                                   "condition": "consent_sms is empty",
                                   "message": "Ask for SMS consent"}),
        ("customer_alert", "young", {"code": "young", "position": 0,
                                     "condition": "age < 18", "message": "Minor"}),
        ("customer_field", "shoe_size", {"code": "shoe_size", "label": "Shoe size",
                                         "kind": "number", "position": 1}),
        ("customer_policy", "default", {"scope": "default",
                                        "mandatory": ["last_name", "mobile"]}),
    )
    return central


@pytest.fixture
def customers(store: LocalStore, central: Central) -> Customers:
    return Customers(store, STORE, CustomerSettings("IT", None), clock=lambda: NOW)


def ids(found: Any) -> list[str]:
    return [c["id"] for c in found.customers]


def test_a_card_finds_its_holder_with_the_observation_and_alerts_in_order(
        customers: Customers) -> None:
    found = customers.find(card=CARD)
    assert (found.by, ids(found), found.central) == ("card", [MULLER], "not asked")
    muller = found.customers[0]
    assert muller["observation"] == "Pays by cheque only"
    assert muller["alerts"] == ["Ask for SMS consent", "Top customer: thank them"]
    assert muller["cards"] == [{"number": CARD, "kind": "loyalty", "active": True}]


@pytest.mark.parametrize(("query", "expected"), [
    ("Müller", MULLER), ("MULLER", MULLER), ("jur mul", MULLER), ("stefan", STEFAN),
    ("Ştefan", STEFAN), ("pop", STEFAN), ("D'Amico", DAMICO), ("damico", DAMICO),
    ("D’AMICO lu", DAMICO)])
def test_names_are_found_whatever_the_accents_case_and_apostrophes(
        customers: Customers, query: str, expected: str) -> None:
    assert ids(customers.find(name=query)) == [expected]
    assert ids(customers.find(q=query)) == [expected]


def test_mobile_and_email_are_normalised_before_the_lookup(customers: Customers) -> None:
    assert ids(customers.find(mobile="347 123 4567")) == [MULLER]  # the store's country
    assert ids(customers.find(q="+39 347 1234567")) == [MULLER]
    assert ids(customers.find(email="jm@EXAMPLE.com")) == [MULLER]
    assert ids(customers.find(q=CARD)) == [MULLER]
    with pytest.raises(CustomerInvalid) as bad:
        customers.find(mobile="12")
    assert "mobile" in bad.value.problems
    with pytest.raises(CustomerInvalid) as bad:
        customers.find(card="2990000000013")  # wrong check digit
    assert "card" in bad.value.problems


def test_a_merged_id_finds_the_survivor(customers: Customers, central: Central) -> None:
    central.send(("customer_redirect", STEFAN, {"old": STEFAN, "survivor": MULLER}),
                 ("customer", STEFAN, None))
    assert customers.get(STEFAN)["id"] == MULLER
    assert ids(customers.find(name="stefan")) == []
    with pytest.raises(UnknownCustomer):
        customers.get(str(uuid.uuid4()))


def test_a_customer_made_offline_goes_to_the_outbox_before_the_sale_naming_it(
        store: LocalStore, customers: Customers) -> None:
    made = customers.create({"first_name": "Ana", "last_name": "Ionescu",
                             "mobile": "+40 721 000 000", "extra.shoe_size": "38,5",
                             "consent_sms": True}, cards=["2990000000057"])
    assert made["mobile"] == "+40721000000"
    assert made["extra"] == {"shoe_size": "38.5"}
    assert made["consent_sms"] is True and made["consent_sms_store"] == STORE
    assert made["pending_upstream"] is True
    assert made["home_store"] == STORE
    assert made["alerts"] == []  # SMS consent given, no spend
    uuid.UUID(made["id"])
    assert ids(customers.find(card="2990000000057")) == [made["id"]]
    assert ids(customers.find(name="ionescu")) == [made["id"]]

    sale = record_sale(store, STORE, sale_to(made["id"]), NOW).sale
    assert sale["customer"] == made["id"]
    with store.read() as conn:
        entries = [dict(r) for r in conn.execute("SELECT kind, ref, body FROM outbox "
                                                 "ORDER BY seq")]
    assert [e["kind"] for e in entries] == ["customer", "sale"]
    body = upstream.read("customer", json.loads(entries[0]["body"]))
    assert str(body["customer"]) == made["id"]
    assert body["changes"]["extra.shoe_size"] == "38.5"
    assert body["add_cards"] == [{"number": "2990000000057", "kind": "loyalty"}]


def test_a_sale_naming_an_unknown_customer_is_refused_and_an_old_id_names_the_survivor(
        store: LocalStore, customers: Customers, central: Central) -> None:
    with pytest.raises(UnknownSaleCustomer):
        record_sale(store, STORE, sale_to(str(uuid.uuid4())), NOW)
    central.send(("customer_redirect", STEFAN, {"old": STEFAN, "survivor": MULLER}))
    sale = record_sale(store, STORE, sale_to(STEFAN), NOW).sale
    assert sale["customer"] == MULLER
    with store.read() as conn:
        assert conn.execute("SELECT COUNT(*) FROM outbox").fetchone()[0] == 1


def test_bad_input_names_every_field_and_changes_nothing(
        store: LocalStore, customers: Customers) -> None:
    with pytest.raises(CustomerInvalid) as bad:
        customers.create({"first_name": "X", "email": "not-an-address", "mobile": "12",
                          "extra.colour": "red", "extra.shoe_size": "big"},
                         cards=["2990000000013", CARD])
    assert set(bad.value.problems) == {"email", "mobile", "extra.colour", "extra.shoe_size",
                                       "last_name", "cards.0", "cards"}
    with pytest.raises(CustomerInvalid) as bad:
        customers.create({"first_name": "X"})
    assert set(bad.value.problems) == {"last_name", "mobile"}
    with store.read() as conn:
        assert conn.execute("SELECT COUNT(*) FROM outbox").fetchone()[0] == 0
        assert conn.execute("SELECT COUNT(*) FROM customers").fetchone()[0] == 3


def test_a_partners_13_digit_number_that_is_no_ean_is_its_card_not_a_misread(
        store: LocalStore, customers: Customers, central: Central) -> None:
    """Partners issue 13-digit numbers without an EAN check digit: one a programme of the
    store's copy lists (or a customer holds as a partner card) is read as a partner card;
    any other 13 digits with a wrong check digit are still refused as a misread."""
    listed, held, stray = "7700000000042", "7711111111111", "2990000000013"
    for number in (listed, held, stray):
        assert int(number[-1]) != ean_check_digit(number[:-1])
    Replica(store).apply(messages.parse(messages.envelope(
        "changes", stream="partners", log_epoch="e1", changes=[
            {"version": 1, "entity": "partner_card", "key": "UNION|7700000000000|7700000000099",
             "op": "upsert", "data": {"programme": "UNION", "first": "7700000000000",
                                      "last": "7700000000099", "active": True}}])))
    central.send(("customer_card", held, {"number": held, "customer": STEFAN,
                                          "kind": "partner", "active": True}))
    assert ids(customers.find(card=held)) == [STEFAN]
    assert ids(customers.find(q=held)) == [STEFAN]
    assert ids(customers.find(card=listed)) == []  # nobody holds it yet: no misread either
    made = customers.create({"last_name": "Rossi", "mobile": "3471112233"}, cards=[listed])
    assert [(c["number"], c["kind"]) for c in made["cards"]] == [(listed, "partner")]
    assert ids(customers.find(card=listed)) == [made["id"]]
    with pytest.raises(CustomerInvalid) as refused:
        customers.find(card=stray)
    assert "wrong check digit" in refused.value.problems["card"]
    with pytest.raises(CustomerInvalid) as refused:
        customers.create({"last_name": "Bianchi", "mobile": "3471112244"}, cards=[stray])
    assert "wrong check digit" in refused.value.problems["cards.0"]


def test_a_card_from_the_store_range(store: LocalStore, central: Central) -> None:
    from rules.cards import CardRange

    service = Customers(store, STORE, CustomerSettings("IT", CardRange("299", 1, 9)),
                        clock=lambda: NOW)
    made = service.create({"last_name": "Rossi", "mobile": "3471112222"}, issue_card=True)
    assert [c["number"] for c in made["cards"]] == [loyalty_card_number("299", 2)]  # 1 is held


def test_a_local_edit_stays_over_older_central_records_until_central_confirms_it(
        store: LocalStore, customers: Customers, central: Central) -> None:
    edited = customers.edit(MULLER, {"city": "Bolzano"})
    assert edited["city"] == "Bolzano"
    stamp = f"{(NOW - dt.timedelta(hours=1)).isoformat()}|hq|{uuid.uuid4()}"
    older = customer(MULLER, first_name="Jürgen", last_name="Müller", city="Merano",
                     mobile="+393471234567", stamps={"city": stamp})
    central.send(("customer", MULLER, older))
    assert customers.get(MULLER)["city"] == "Bolzano"
    central.snapshot([("customer", MULLER, older)])  # a snapshot forgets nothing of ours
    assert customers.get(MULLER)["city"] == "Bolzano"
    made = customers.create({"last_name": "Neri", "mobile": "3470000001"}, cards=["ABC123"])
    central.snapshot([("customer", MULLER, older)])
    assert ids(customers.find(card="ABC123")) == [made["id"]]

    later = f"{(NOW + dt.timedelta(hours=1)).isoformat()}|kiosk-2|{uuid.uuid4()}"
    central.send(("customer", MULLER, {**older, "city": "Trento", "stamps": {"city": later}}))
    assert customers.get(MULLER)["city"] == "Trento"  # the later edit wins

    with store.write() as conn:  # central acknowledged: its record says what won
        conn.execute("DELETE FROM outbox")
    central.send(("customer", MULLER, older))
    assert customers.get(MULLER)["city"] == "Merano"


def test_a_card_unknown_here_is_asked_of_central(store: LocalStore, central: Central) -> None:
    other = str(uuid.uuid4())
    asked: list[dict[str, Any]] = []

    def ask(body: dict[str, Any]) -> dict[str, Any]:
        asked.append(body)
        return {"found": True, "customer": customer(other, last_name="Verdi"),
                "cards": [{"number": "2990000000033", "customer": other, "kind": "loyalty",
                           "active": True}]}

    service = Customers(store, STORE, CustomerSettings("IT"), ask=ask, clock=lambda: NOW)
    found = service.find(card="2990000000033")
    assert (ids(found), found.central, asked) == ([other], "asked",
                                                  [{"card": "2990000000033"}])
    assert ids(service.find(card="2990000000033")).count(other) == 1  # now in the copy
    assert len(asked) == 1
    record_sale(store, STORE, sale_to(other),
                NOW)

    def unreachable(body: dict[str, Any]) -> dict[str, Any]:
        raise CentralUnreachable("not connected to the broker")

    offline = Customers(store, STORE, CustomerSettings("IT"), ask=unreachable,
                        clock=lambda: NOW)
    found = offline.find(mobile="+40 721 999 999")
    assert (found.customers, found.central) == ([], "unreachable")


def test_alerts_take_today_in_the_stores_time_zone(store: LocalStore, central: Central) -> None:
    young = "44444444-4444-4444-8444-444444444444"
    central.send(("customer", young, customer(young, last_name="Rossi",
                                              birth_date="2008-11-23")))
    late = dt.datetime(2026, 11, 22, 23, 30, tzinfo=dt.UTC)  # 00:30 on the 23rd in Rome
    service = Customers(store, STORE, CustomerSettings("IT", None), clock=lambda: late)
    assert "Minor" in service.get(young)["alerts"]  # no zone from central yet: UTC, 17
    with store.write() as conn:
        conn.execute("INSERT INTO store_info (code, name, grp, active, time_zone) "
                      "VALUES (?, 'Kiosk', NULL, 1, 'Europe/Rome')", (STORE,))
    assert "Minor" not in service.get(young)["alerts"]  # 18 today in Rome
