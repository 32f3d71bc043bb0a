"""Customer conditions translated to SQL agree with the till's evaluator; alerts are checked
when saved and previewed; the multi-criteria list counts, pages and exports."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from central.db import Database
from central.models import Customer
from central.services import customer_fields, customer_fold, customers, stores
from central.services import customer_queries as q
from central.services.errors import Invalid
from rules.conditions import evaluate, parse
from rules.customers.aggregates import Aggregates
from rules.customers.alerts import customer_facts
from tests.integration.test_customers import STORE, T0, batch, card, edit_entry, ingest, sale_entry

pytestmark = pytest.mark.integration

TODAY = dt.date(2026, 11, 22)
ZONE = "Europe/Rome"

PEOPLE = [
    ({"first_name": "Ștefan", "last_name": "Müller", "email": "s@example.com",
      "postcode": "75017", "birth_date": "1980-05-01", "extra.shoe_size": "42",
      "consent_sms": True}, ("1200.00", "30.00"), True),
    ({"first_name": "Ana", "last_name": "D'Amico", "mobile": "+40721000000",
      "postcode": "00100", "birth_date": "2001-12-24", "observation": "VIP"},
     ("10.00",), False),
    ({"first_name": "Zoé", "city": "Paris", "extra.shoe_size": "38"}, (), True),
    ({"last_name": "Nobody"}, (), False),
]

CONDITIONS = [
    "email is empty", "not (email is empty)", "total_spend >= 1000", "visits = 0",
    'postcode = "75017"', 'postcode in ("75017", "00100")', 'last_name starts with "mü"',
    'first_name contains "an"', "age >= 40", "birth_year between 1990 and 2005",
    "has_card", "not has_card", "has_phone or has_email", "consent_sms",
    "last_purchase before 6 months ago", "last_purchase after 1 month ago",
    "extra.shoe_size > 40", "average_basket > 100", "observation is empty",
    'city = "paris" and not has_phone', f'cards contains "{card(1)}"', "cards is empty",
]


@pytest.fixture
def db(clean_pg_db: Database) -> Iterator[Database]:
    with clean_pg_db.transaction() as session:
        stores.create_store(session, STORE, "Kiosk")
        customer_fields.save_field(session, {"code": "shoe_size", "label": "Shoe size",
                                       "kind": "number"})
    seq = 0
    for i, (fields, totals, has_card) in enumerate(PEOPLE):
        cid = str(uuid.uuid4())
        seq += 1
        entries = [edit_entry(seq, cid, fields, cards=(card(i + 1),) if has_card else ())]
        for j, total in enumerate(totals):
            seq += 1
            entries.append(sale_entry(seq, cid, total,
                                      created_at=(T0 - dt.timedelta(days=200 * j)).isoformat()))
        ingest(clean_pg_db, batch(*entries, store=STORE))
    yield clean_pg_db


def python_count(db: Database, text: str) -> int:
    with db.sessions() as session:
        rows = session.scalars(select(Customer)).all()
        total = 0
        for row in rows:
            state = customer_fold.state_of(session, row)
            facts = customer_facts(state.fields(), state.active_cards(),
                                   Aggregates(row.total_spend, row.visits, row.returns,
                                              row.first_purchase, row.last_purchase),
                                   TODAY, ZoneInfo(ZONE))
            total += evaluate(parse(text), facts, TODAY)
        return total


@pytest.mark.parametrize("text", CONDITIONS)
def test_sql_and_the_till_agree_on_every_condition(db: Database, text: str) -> None:
    with db.sessions() as session:
        node = q.check_condition(session, text)
        assert q.count(session, node, today=TODAY, zone=ZONE) == python_count(db, text), text


def test_an_alert_that_does_not_parse_or_names_no_field_is_refused(db: Database) -> None:
    with db.transaction() as session:
        for condition in ("total_spend >=", "shoe_colour = 1", "email is emptyish"):
            with pytest.raises(Invalid) as bad:
                q.save_alert(session, {"code": "A", "position": 1, "condition": condition,
                                       "message": "Hello"})
            assert set(bad.value.errors) == {"condition"}
        saved = q.save_alert(session, {"code": "big", "position": 2, "message": "Big spender",
                                       "condition": "total_spend >= 1000"})
        assert q.alert_wire(saved)["condition"] == "total_spend >= 1000"
        assert q.preview(session, "email is empty", today=TODAY) == 3


def test_the_list_reads_rows_counts_and_pages(db: Database) -> None:
    with db.sessions() as session:
        node = q.read_criteria(session, {"match": "any", "criteria": [
            {"field": "postcode", "operator": "equals", "value": "75017"},
            {"field": "city", "operator": "equals", "value": "Paris"}]})
        rows, total = q.page(session, node, 1, 1)
        assert total == 2 and len(rows) == 1
        with pytest.raises(Invalid) as bad:
            q.read_criteria(session, {"criteria": [{"field": "shoe", "operator": "equals",
                                                    "value": "1"}]})
        assert "criteria.shoe" in bad.value.errors


def test_on_sqlite_plain_columns_work_and_the_rest_says_it_needs_postgresql(
        sqlite_db: Database) -> None:
    with sqlite_db.transaction() as session:
        customers.create(session, {"first_name": "Ana", "postcode": "75017"})
        customers.create(session, {"first_name": "Ion", "email": "ion@example.com"})
    with sqlite_db.sessions() as session:
        assert q.preview(session, 'email is empty and postcode = "75017"') == 1
        assert q.preview(session, "has_email") == 1
        with pytest.raises(Invalid, match="PostgreSQL"):
            q.preview(session, "last_purchase before 6 months ago")
