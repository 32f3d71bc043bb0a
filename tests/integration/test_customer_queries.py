"""Customer conditions translated to SQL agree with the till's evaluator; alerts are checked
when saved and previewed; the multi-criteria list counts, pages and exports."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Date, and_, cast, func, select

from central.db import Database
from central.models import Customer
from central.services import customer_fields, customer_fold, customers, stores
from central.services import customer_queries as q
from central.services.errors import Invalid
from rules.conditions import evaluate, parse
from rules.conditions.nodes import DateValue, InList
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
    # 0.05 over 2 visits: 0.025, to the cent half up (0.03) everywhere, not half-even (0.02)
    ({"last_name": "Tie"}, ("0.02", "0.03"), False),
]

CONDITIONS = [
    "email is empty", "not (email is empty)", "total_spend >= 1000", "visits = 0",
    'postcode = "75017"', 'postcode in ("75017", "00100")', 'last_name starts with "mü"',
    'first_name contains "an"', "age >= 40", "birth_year between 1990 and 2005",
    "has_card", "not has_card", "has_phone or has_email", "consent_sms",
    "last_purchase before 6 months ago", "last_purchase after 1 month ago",
    "extra.shoe_size > 40", "average_basket > 100", "average_basket = 0.03", "observation is empty",
    'city = "paris" and not has_phone', f'cards contains "{card(1)}"', "cards is empty",
]


@pytest.fixture(params=["postgresql", "sqlite"])
def db(request: pytest.FixtureRequest) -> Iterator[Database]:
    """The people above, on PostgreSQL and on the embedded SQLite (``make demo``)."""
    clean_pg_db: Database = request.getfixturevalue(
        "clean_pg_db" if request.param == "postgresql" else "sqlite_db")
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
        in_sql = q.count(session, node, today=TODAY, zone=ZONE)
    assert in_sql == python_count(db, text), text


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
        assert q.preview(session, "email is empty", today=TODAY) == 4


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


def test_on_sqlite_only_a_day_whose_midnight_happened_twice_needs_postgresql(
        sqlite_db: Database) -> None:
    with sqlite_db.transaction() as session:
        customers.create(session, {"first_name": "Ana", "postcode": "75017"})
        customers.create(session, {"first_name": "Ion", "email": "ion@example.com"})
    with sqlite_db.sessions() as session:
        assert q.preview(session, 'email is empty and postcode = "75017"') == 1
        assert q.preview(session, "last_purchase before 6 months ago") == 0
        node = q.check_condition(session, "last_purchase = 2009-11-01")
        assert q.count(session, node, zone="Europe/Rome") == 0
        with pytest.raises(Invalid, match="PostgreSQL"):
            q.count(session, node, zone="America/Goose_Bay")


# -- purchases: date bounds as UTC instants ----------------------------------------------------
# The translator compares a purchase with the instant its bound's day begins in the zone;
# before, it converted each row's instant to a date in the zone. Both must select the same
# customers, and the till's evaluator too, on the instants where they could part: around
# local midnight, on the DST days (Rome's 23- and 25-hour days), where midnight did not
# exist (São Paulo 2018: 00:00 -> 01:00) and where it happened twice (Goose Bay 2009:
# 00:01 -> 23:01, the one kind of day where the date goes backwards).

DAYS = {"Europe/Rome": (dt.date(2026, 3, 29), dt.date(2026, 10, 25), dt.date(2026, 11, 22)),
        "America/Sao_Paulo": (dt.date(2018, 11, 4),),
        "America/Goose_Bay": (dt.date(2009, 11, 1),)}


def boundary_instants(zone: str, day: dt.date) -> list[dt.datetime]:
    """Every quarter hour (UTC) from the day before to the day after, and each local
    midnight, 23:30 and 02:30 of those days (both folds), a microsecond either side."""
    tz = ZoneInfo(zone)
    first = dt.datetime.combine(day - dt.timedelta(days=1), dt.time.min, tz).astimezone(dt.UTC)
    moments = {first + dt.timedelta(minutes=15 * k) for k in range(4 * 24 * 3 + 8)}
    for offset in (-1, 0, 1, 2):
        for wall in (dt.time(0, 0), dt.time(2, 30), dt.time(23, 30)):
            for fold in (0, 1):
                local = dt.datetime.combine(day + dt.timedelta(days=offset), wall,
                                            tz).replace(fold=fold)
                at = local.astimezone(dt.UTC)
                moments |= {at, at - dt.timedelta(microseconds=1),
                            at + dt.timedelta(microseconds=1)}
    return sorted(moments)


def old_predicate(zone: str, op: str, day: dt.date) -> Any:
    """The translator's purchase comparison before issue 15: each row's date in the zone."""
    local = cast(func.timezone(zone, Customer.last_purchase), Date)
    return and_(local.is_not(None), {"=": local == day, "!=": local != day, "<": local < day,
                                     "<=": local <= day, ">": local > day,
                                     ">=": local >= day}[op])


@pytest.fixture
def purchases(clean_pg_db: Database) -> dict[str, dt.datetime]:
    moments = sorted({m for zone, days in DAYS.items() for day in days
                      for m in boundary_instants(zone, day)})
    with clean_pg_db.transaction() as session:
        session.add_all([Customer(id=f"p{n:05d}", data="{}", search_key="", last_purchase=m,
                                  first_purchase=m) for n, m in enumerate(moments)])
        session.add(Customer(id="never", data="{}", search_key=""))
    return {f"p{n:05d}": m for n, m in enumerate(moments)}


def selected(db: Database, node: Any, zone: str, today: dt.date) -> set[str]:
    with db.sessions() as session:
        return set(session.scalars(select(Customer.id).where(
            q.where(session, node, today=today, zone=zone))))


@pytest.mark.parametrize("zone", sorted(DAYS))
def test_purchase_dates_as_instants_select_what_the_zone_conversion_did(
        clean_pg_db: Database, purchases: dict[str, dt.datetime], zone: str) -> None:
    tz = ZoneInfo(zone)
    local = {cid: moment.astimezone(tz).date() for cid, moment in purchases.items()}
    checked = 0
    for key_day in DAYS[zone]:
        for bound in (key_day - dt.timedelta(days=1), key_day, key_day + dt.timedelta(days=1)):
            text = bound.isoformat()
            for op in ("=", "!=", "<", "<=", ">", ">="):
                condition = f"last_purchase {op} {text}"
                node = parse(condition)
                new = selected(clean_pg_db, node, zone, key_day)
                with clean_pg_db.sessions() as session:
                    old = set(session.scalars(select(Customer.id).where(
                        old_predicate(zone, op, bound))))
                till = {cid for cid, date in local.items()
                        if evaluate(node, {"last_purchase": date}, key_day)}
                assert new == old == till, (zone, condition)
                # not: the customer without a purchase comes in, as with the till
                negated = selected(clean_pg_db, parse(f"not ({condition})"), zone, key_day)
                assert negated == set(purchases) - new | {"never"}, (zone, condition)
                checked += 1
            for condition in (f"last_purchase between {text} and {text}",
                              f"first_purchase between {key_day - dt.timedelta(days=1)} "
                              f"and {key_day}",
                              "last_purchase after 1 day ago", "last_purchase before today"):
                node = parse(condition)
                till = {cid for cid, date in local.items()
                        if evaluate(node, {"last_purchase": date, "first_purchase": date},
                                    key_day)}
                assert selected(clean_pg_db, node, zone, key_day) == till, (zone, condition)
    assert checked == 18 * len(DAYS[zone])


def test_a_purchase_in_a_list_of_dates_is_one_day_range_each(
        clean_pg_db: Database, purchases: dict[str, dt.datetime]) -> None:
    # the language lets no date into ``in``; the translator still means it as the till would
    days = (dt.date(2026, 3, 28), dt.date(2026, 3, 29), dt.date(2026, 10, 25))
    node = InList("last_purchase", tuple(DateValue(d) for d in days))
    tz = ZoneInfo(ZONE)
    expected = {cid for cid, m in purchases.items() if m.astimezone(tz).date() in days}
    assert expected and selected(clean_pg_db, node, ZONE, TODAY) == expected


def test_a_rome_purchase_bound_is_one_comparison_on_the_instant(
        clean_pg_db: Database) -> None:
    with clean_pg_db.sessions() as session:
        sql = str(q.where(session, parse("last_purchase after 2026-10-25 and "
                                         "first_purchase <= 2026-03-29"),
                          today=TODAY, zone=ZONE)
                  .compile(session.get_bind(), compile_kwargs={"literal_binds": True}))
    assert "timezone" not in sql
    # the 25-hour day ends at 23:00 UTC, the 23-hour one at 22:00 UTC
    assert "customers.last_purchase >= '2026-10-25 23:00:00+00:00'" in sql, sql
    assert "customers.first_purchase < '2026-03-29 22:00:00+00:00'" in sql, sql
