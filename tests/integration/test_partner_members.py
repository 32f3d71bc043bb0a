"""A partner programme's member list imported at central (K4, K6, seeds/004): each member's
card becomes one of a customer's cards (matched by card, external id or mobile, or a new
customer), a report names every bad row and its column, importing again changes nothing,
and the card scanned at a store's till finds the customer and still gets the discount."""

from __future__ import annotations

import csv
import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from central.db import Database
from central.imports import RejectReport, run_import
from central.models import Change, Customer, CustomerCard, CustomerEdit, PartnerCard
from central.services import changelog, customer_imports, customers, partner_members, partners
from central.services.customer_fold import refresh
from central.tabular import open_table
from protocol import messages
from protocol.checksum import EMPTY, combine, entry_hash
from protocol.streams import ALL, stream_name
from store_agent.pos.api import create_app
from store_agent.pos.customers import Customers
from store_agent.settings import CustomerSettings
from store_agent.sqlite_store import LocalStore
from store_agent.sync.replica import Replica
from tests.integration.test_customers import card

pytestmark = pytest.mark.integration

ROWS = 500
HEADER = ["number", "holder", "external_id", "first_name", "last_name", "mobile", "email"]
NOW = dt.datetime(2026, 11, 22, 9, 30, tzinfo=dt.UTC)


@pytest.fixture
def db(clean_pg_db: Database) -> Database:
    with clean_pg_db.transaction() as session:
        partners.create_programme(session, {"code": "ABCDEF", "name": "Union card",
                                            "percent": "5"})
    return clean_pg_db


def member_list(path: Path) -> dict[int, str]:
    """ROWS members, 1% of them bad (each a different column); their lines and reasons'
    starts."""
    bad: dict[int, str] = {}
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out, delimiter=";")
        writer.writerow(HEADER)
        for n in range(ROWS):
            row = [f"7{n:07d}", f"Membru {n}", f"U-{n}", f"Ana {n}", "Pop",
                   f"+40 721 {n:06d}", f"m{n}@example.ro"]
            line = n + 2
            match n:
                case 50:
                    row[0], bad[line] = "12", "number '12': 4 to 32 letters or digits"
                case 150:
                    row[5], bad[line] = "12", "mobile:"
                case 250:
                    row[6], bad[line] = "not-an-address", "email:"
                case 350:
                    row[2], bad[line] = "X" * 81, "external_id: at most 80 characters"
                case 450:
                    row[0], row[1], bad[line] = "", "", "give a number, or first and last"
            writer.writerow(row)
    return bad


def run(db: Database, path: Path, report: Path | None = None) -> Any:
    with open_table(path) as table, RejectReport(table.header, csv_path=report) as rejects:
        return run_import(table, partner_members.member_handler("ABCDEF", region="RO"),
                          db.sessions, batch_size=100, rejects=rejects)


def count(db: Database, model: Any) -> int:
    with db.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_a_member_list_with_bad_rows_reports_exactly_them_and_again_changes_nothing(
        db: Database, tmp_path: Path) -> None:
    path, report = tmp_path / "members.csv", tmp_path / "rejected.csv"
    bad = member_list(path)

    result = run(db, path, report)

    good = ROWS - len(bad)
    assert (result.rows, result.rejected, dict(result.outcomes)) == (
        ROWS, len(bad), {"created": good})
    with report.open(encoding="utf-8-sig", newline="") as file:
        reported = list(csv.reader(file))
    assert reported[0] == ["line", "reason", *HEADER]
    assert [int(r[0]) for r in reported[1:]] == sorted(bad)
    for row in reported[1:]:
        assert row[1].startswith(bad[int(row[0])]), row
    assert count(db, Customer) == good and count(db, PartnerCard) == good
    with db.sessions() as session:
        member = customers.find(session, card="70000007")
        assert member is not None and member.external_id == "U-7"
        assert (member.first_name, member.last_name, member.mobile) == (
            "Ana 7", "Pop", "+40721000007")
        assert [(c.number, c.kind) for c in customers.cards_of(session, member.id)] == [
            ("70000007", "partner")]
        assert partners.get_card(session, "ABCDEF", "70000007").holder == "Membru 7"
    with db.sessions() as session:  # the batches' checksums are those of their entries
        for bucket in ("customers", partners.BUCKET):
            version, checksum, live = changelog.snapshot(session, stream_name(bucket, ALL))
            assert checksum == combine(EMPTY, *(entry_hash(c.entity, c.key, text=c.data)
                                                for c in live)), bucket
    before = (count(db, Change), count(db, CustomerEdit))

    again = run(db, path)

    assert dict(again.outcomes) == {"unchanged": good} and again.rejected == len(bad)
    assert (count(db, Change), count(db, CustomerEdit)) == before


def test_members_are_matched_by_card_then_external_id_then_mobile(db: Database,
                                                                  tmp_path: Path) -> None:
    with db.transaction() as session:
        by_card = customers.create(session, {"last_name": "Carded", "cards": [
            {"number": "50000001", "kind": "partner"}]}).id
        by_mobile = customers.create(session, {"first_name": "Ion", "last_name": "Mobile",
                                               "mobile": "+40721000002",
                                               "cards": [{"number": card(2)}]}).id
        by_external = customers.create(session, {"last_name": "External"})
        by_external.external_id = "U-3"
        external_id = by_external.id
    path = tmp_path / "members.csv"
    path.write_text("number,holder,external_id,mobile,city\n"
                    "50000001,Carded Member,,,Cluj\n"
                    "50000002,Ion Mobile,,0721 000 002,\n"
                    "50000003,,U-3,,\n"
                    "50000004,Nou Membru,,,Iasi\n"
                    "50000004,Nou Membru,,,Iasi\n", encoding="utf-8")

    result = run(db, path)

    # each row adds its number to the programme ("created"), the fifth repeats the fourth;
    # three members are customers already, one is new
    assert dict(result.outcomes) == {"created": 4, "unchanged": 1}
    assert count(db, Customer) == 4
    with db.sessions() as session:
        def numbers(customer_id: str) -> list[str]:
            return [c.number for c in customers.cards_of(session, customer_id) if c.active]

        assert customers.wire(customers.get(session, by_card))["city"] == "Cluj"
        assert numbers(by_mobile) == [card(2), "50000002"]
        assert numbers(external_id) == ["50000003"]
        made = customers.find(session, card="50000004")
        assert made is not None and made.last_name == "Nou Membru"  # the holder's name
        assert customers.wire(made)["city"] == "Iasi"
        # the batch's customers are what the registry's own fold makes of their edits
        changes = session.scalar(select(func.count()).select_from(Change))
        for customer in session.scalars(select(Customer)):
            data = customer.data
            refresh(session, customer)
            assert customer.data == data
        assert session.scalar(select(func.count()).select_from(Change)) == changes
        session.rollback()
    assert dict(run(db, path).outcomes) == {"unchanged": 5}


def test_a_card_another_customer_holds_is_refused_naming_the_column(db: Database,
                                                                     tmp_path: Path) -> None:
    with db.transaction() as session:
        customers.create(session, {"last_name": "Holder", "mobile": "+40721000009",
                                   "cards": [{"number": card(9)}]})
        other = customers.create(session, {"last_name": "Other"})
        other.external_id = "C-8"
    path = tmp_path / "customers.csv"
    # a customers file matches by external id first: C-8 is Other, the card is Holder's
    path.write_text(f"external_id,card,city\nC-8,{card(9)},Cluj\n", encoding="utf-8")
    with open_table(path) as table:
        result = run_import(table, customer_imports.row_handler(region="RO"), db.sessions)
    assert result.rejected == 1 and result.sample[0].reason.startswith(
        f"card: {card(9)} belongs to customer "), result.sample
    with db.sessions() as session:
        assert customers.wire(customers.get(session, other.id))["city"] is None
    # two members of one batch with the same mobile: both cards go to that customer
    path.write_text("number,mobile\n50000010,+40721000009\n50000011,0721000009\n",
                    encoding="utf-8")
    assert dict(run(db, path).outcomes) == {"created": 2}  # two new numbers of the programme
    assert count(db, Customer) == 2
    with db.sessions() as session:
        holder = customers.find(session, mobile="+40721000009", region="RO")
        assert holder is not None
        assert [c.number for c in customers.cards_of(session, holder.id)] == [
            card(9), "50000010", "50000011"]
        assert session.scalar(select(CustomerCard.kind).where(
            CustomerCard.number == "50000011")) == "partner"


def _send(replica: Replica, db: Database, bucket: str) -> None:
    stream = stream_name(bucket, ALL)
    with db.sessions() as session:
        changes = [{"version": c.version, "entity": c.entity, "key": c.key, "op": c.op,
                    "data": json.loads(c.data) if c.data else None}
                   for c in changelog.read(session, stream, 0, 100_000)]
    result = replica.apply(messages.parse(messages.envelope(
        "changes", stream=stream, log_epoch="e1", changes=changes)))
    assert not result.hole


def test_the_members_card_at_a_store_finds_the_customer_and_gets_the_discount(
        db: Database, tmp_path: Path) -> None:
    path = tmp_path / "members.csv"
    path.write_text("number;holder;first_name;last_name;mobile\n"
                    "ABC12345;Ștefan Popescu;Ștefan;Popescu;+40721000123\n", encoding="utf-8")
    assert dict(run(db, path).outcomes) == {"created": 1}
    store = LocalStore(tmp_path / "agent.db")
    replica = Replica(store)
    bread = {"sku": "bread", "name": "Bread", "category": None, "brand": None,
             "vat_rate": "9.00", "sale_price": "10.00", "active": True, "barcodes": []}
    replica.apply(messages.parse(messages.envelope(
        "changes", stream="catalog", log_epoch="e1", changes=[
            {"version": 1, "entity": "product", "key": "bread", "op": "upsert",
             "data": bread}])))
    _send(replica, db, partners.BUCKET)
    _send(replica, db, "customers")
    till = Customers(store, "kiosk-1", CustomerSettings("RO", None), clock=lambda: NOW)
    pos = create_app(store, replica, "kiosk-1", lambda: {}, clock=lambda: NOW,
                     customers=till).test_client()

    found = pos.get("/pos/v1/customers", query_string={"card": "ABC12345"})

    assert found.status_code == 200, found.get_json()
    body = found.get_json()
    assert body["by"] == "card" and len(body["customers"]) == 1
    member = body["customers"][0]
    assert (member["first_name"], member["last_name"]) == ("Ștefan", "Popescu")
    assert member["cards"] == [{"number": "ABC12345", "kind": "partner", "active": True}]
    priced = pos.post("/pos/v1/baskets/price", json={
        "lines": [{"code": "bread", "qty": "1"}], "cards": ["ABC12345"]})
    assert priced.status_code == 200, priced.get_json()
    assert priced.get_json()["total"] == "9.50"  # the union's 5%
