"""Central's list translator: a purchase's date bound is the instant its day begins in the
store's zone (customer_queries.Translator.start), kept as a conversion only on the days
the clock was turned back across midnight."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy.dialects import postgresql

from central.services.customer_queries import Translator
from rules.conditions import parse
from rules.customers.alerts import customer_catalogue
from rules.customers.record import RegistryPolicy

UTC = dt.UTC


def translator(zone: str) -> Translator:
    return Translator(customer_catalogue(RegistryPolicy()), dt.date(2026, 12, 2), zone)


@pytest.mark.parametrize(("zone", "day", "begins", "hours"), [
    ("Europe/Rome", dt.date(2026, 11, 22), dt.datetime(2026, 11, 21, 23, tzinfo=UTC), 24),
    ("Europe/Rome", dt.date(2026, 3, 29), dt.datetime(2026, 3, 28, 23, tzinfo=UTC), 23),
    ("Europe/Rome", dt.date(2026, 10, 25), dt.datetime(2026, 10, 24, 22, tzinfo=UTC), 25),
    # midnight did not exist (00:00 -> 01:00): the day begins when the gap ends
    ("America/Sao_Paulo", dt.date(2018, 11, 4), dt.datetime(2018, 11, 4, 3, tzinfo=UTC), 23),
    # back at 24:00 to 23:00: the day before has 25 hours, the date never goes back
    ("America/Santiago", dt.date(2023, 4, 1), dt.datetime(2023, 4, 1, 3, tzinfo=UTC), 25),
])
def test_a_day_begins_at_its_first_local_instant(zone: str, day: dt.date, begins: dt.datetime,
                                                 hours: int) -> None:
    t = translator(zone)
    assert t.start(day) == begins
    end = t.start(day, 1)
    assert end is not None and end - begins == dt.timedelta(hours=hours)
    assert not t.turned_back(day) and not t.turned_back(day, 1)


def test_a_midnight_that_happened_twice_is_turned_back() -> None:
    goose_bay = translator("America/Goose_Bay")  # 2009-11-01 00:01 -> 2009-10-31 23:01
    assert goose_bay.turned_back(dt.date(2009, 11, 1))
    assert not goose_bay.turned_back(dt.date(2009, 11, 2))
    assert not goose_bay.turned_back(dt.date(2012, 11, 4))  # since 2011 at 02:00


def test_the_ends_of_the_calendar() -> None:
    rome = translator("Europe/Rome")
    # 0001-01-01 began before the first instant Python holds: that instant stands for it
    assert rome.start(dt.date.min) == dt.datetime.min.replace(tzinfo=UTC)
    assert rome.start(dt.date.max, 1) is None
    assert translator("America/New_York").start(dt.date.max) == dt.datetime(
        9999, 12, 31, 5, tzinfo=UTC)
    # every purchase is on or after the first day, none after the last
    assert compiled("Europe/Rome", "last_purchase >= 0001-01-01") == (
        "customers.last_purchase IS NOT NULL")
    assert compiled("Europe/Rome", "last_purchase > 9999-12-31") == "false"
    assert compiled("Europe/Rome", "not (last_purchase > 9999-12-31)") == "true"


def compiled(zone: str, text: str) -> str:
    return str(translator(zone)(parse(text)).compile(
        dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}))


@pytest.mark.parametrize(("text", "expected"), [
    ("last_purchase = 2026-03-29", "customers.last_purchase >= '2026-03-28 23:00:00+00:00' "
     "AND customers.last_purchase < '2026-03-29 22:00:00+00:00'"),
    ("last_purchase != 2026-03-29", "customers.last_purchase < '2026-03-28 23:00:00+00:00' "
     "OR customers.last_purchase >= '2026-03-29 22:00:00+00:00'"),
    ("last_purchase < 2026-10-25", "customers.last_purchase < '2026-10-24 22:00:00+00:00'"),
    ("last_purchase <= 2026-10-25", "customers.last_purchase < '2026-10-25 23:00:00+00:00'"),
    ("last_purchase > 2026-10-25", "customers.last_purchase >= '2026-10-25 23:00:00+00:00'"),
    ("last_purchase >= 2026-10-25", "customers.last_purchase >= '2026-10-24 22:00:00+00:00'"),
    ("first_purchase between 2026-03-29 and 2026-10-25",
     "customers.first_purchase >= '2026-03-28 23:00:00+00:00' "
     "AND customers.first_purchase < '2026-10-25 23:00:00+00:00'"),
])
def test_each_operator_is_a_half_open_range_on_the_instant(text: str, expected: str) -> None:
    sql = compiled("Europe/Rome", text)
    assert expected in sql and "timezone" not in sql, sql


def test_on_a_turned_back_day_the_bound_keeps_the_conversion() -> None:
    sql = compiled("America/Goose_Bay", "last_purchase >= 2009-11-01")
    assert "timezone('America/Goose_Bay', customers.last_purchase)" in sql, sql
    assert "timezone" not in compiled("America/Goose_Bay", "last_purchase >= 2009-11-03")
