"""Footfall at central (SPEC S7): counters' readings recorded once, visits and conversion.

Stores send each counter reading as a ``footfall`` upstream entry; :class:`FootfallHandler`
records it once by store, counter and interval start (a replay or another epoch changes
nothing). Visits are the people counted coming in; an interval counts in the store-local
hour it starts in (the store's ``time_zone``). The conversion rate of a store, day or hour
is its sales divided by its visits (as a percentage), none where nobody was counted.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from central.models import FootfallReading, Sale, Store
from central.services import bulk
from central.services.errors import Invalid, NotFound
from central.services.upstream import Item, Recorded
from protocol import upstream as upstream_kinds

MAX_DAYS = 366


class FootfallHandler:
    """The ``footfall`` upstream kind: one row per store, counter and interval start."""

    kind = "footfall"
    after: frozenset[str] = frozenset()

    def read(self, entry: dict[str, Any], store: Store) -> dict[str, Any]:
        return upstream_kinds.read("footfall", entry["body"])

    def record(self, session: Session, store: Store, epoch: str,
               items: list[Item]) -> Recorded:
        rows = {(body["counter"], body["start"]): {
            "store_id": store.id, "counter": body["counter"], "start": body["start"],
            "minutes": body["minutes"], "visits_in": body["in_"], "visits_out": body["out"],
            "received_at": dt.datetime.now(dt.UTC)} for _entry, body in items}
        done = session.execute(bulk.insert(session, FootfallReading).values(list(rows.values()))
                               .on_conflict_do_nothing(
                                   index_elements=["store_id", "counter", "start"])
                               .returning(FootfallReading.id))
        applied = len(done.all())
        return Recorded(applied=applied, duplicates=len(items) - applied)

    def held(self, session: Session, store: Store, epoch: str,
             seqs: list[int]) -> dict[int, str]:
        return {}  # recorded by counter and interval, not by seq


@dataclass(frozen=True)
class Cell:
    """Visits and sales of one store, store-local day and hour."""

    store: str
    day: dt.date
    hour: int
    visits: int
    sales: int


def conversion(sales: int, visits: int) -> Decimal | None:
    """Sales per 100 visits, to one decimal; None without visits."""
    if visits <= 0:
        return None
    return (Decimal(sales) * 100 / Decimal(visits)).quantize(Decimal("0.1"), ROUND_HALF_UP)


def _utc_hour(session: Session, column: Any) -> Any:
    """The UTC hour a time falls in, grouped by the database (each store's hours are then
    made store-local here, with zoneinfo: a zone offset by half an hour counts an hour's
    visits in the local hour its UTC hour starts in)."""
    if session.get_bind().dialect.name == "postgresql":
        return func.date_trunc("hour", func.timezone("UTC", column))
    return func.strftime("%Y-%m-%d %H:00:00", column)


def _as_utc(value: Any) -> dt.datetime:
    at = value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(str(value))
    return at.replace(tzinfo=dt.UTC) if at.tzinfo is None else at.astimezone(dt.UTC)


@cache
def _zone(name: str | None) -> dt.tzinfo:
    try:
        return ZoneInfo(name) if name else dt.UTC
    except (ZoneInfoNotFoundError, ValueError):
        return dt.UTC


def _period(since: dt.date, until: dt.date) -> tuple[dt.datetime, dt.datetime]:
    if until < since:
        raise Invalid("the period ends before it starts", {"until": ["on or after since"]})
    if (until - since).days >= MAX_DAYS:
        raise Invalid(f"the period is longer than {MAX_DAYS} days",
                      {"until": [f"at most {MAX_DAYS} days after since"]})
    # store-local days: the UTC range is widened by a day on each side, then cut locally
    low = dt.datetime.combine(since - dt.timedelta(days=1), dt.time(), dt.UTC)
    high = dt.datetime.combine(until + dt.timedelta(days=2), dt.time(), dt.UTC)
    return low, high


def cells(session: Session, since: dt.date, until: dt.date,
          store: str | None = None) -> list[Cell]:
    """Visits and sales per store, store-local day and hour, ``since`` to ``until``
    inclusive (store-local dates)."""
    low, high = _period(since, until)
    store_filter = []
    if store:
        row = session.scalar(select(Store).where(Store.code == store))
        if row is None:
            raise NotFound(f"no store {store!r}")
        store_filter = [Store.id == row.id]
    found: dict[tuple[str, dt.date, int], list[int]] = defaultdict(lambda: [0, 0])
    for index, (model, column, measure) in enumerate((
            (FootfallReading, FootfallReading.start, func.sum(FootfallReading.visits_in)),
            (Sale, Sale.sold_at, func.count(Sale.id)))):
        hour = _utc_hour(session, column)
        query = (select(Store.code, Store.time_zone, hour, measure)
                 .join(Store, Store.id == model.store_id)
                 .where(column >= low, column < high, *store_filter)
                 .group_by(Store.code, Store.time_zone, hour))
        for code, zone, at, value in session.execute(query):
            local = _as_utc(at).astimezone(_zone(zone))
            if since <= local.date() <= until:
                found[(code, local.date(), local.hour)][index] += int(value or 0)
    return [Cell(code, on, at, visits, sales)
            for (code, on, at), (visits, sales) in sorted(found.items())]


@dataclass(frozen=True)
class Line:
    """A row of a summary: a label (store and day, or hour), visits, sales, conversion."""

    label: tuple[Any, ...]
    visits: int
    sales: int

    @property
    def conversion(self) -> Decimal | None:
        return conversion(self.sales, self.visits)


def _sum(groups: dict[tuple[Any, ...], list[int]]) -> list[Line]:
    return [Line(label, v, s) for label, (v, s) in sorted(groups.items())]


def by_day(found: Iterable[Cell]) -> list[Line]:
    groups: dict[tuple[Any, ...], list[int]] = defaultdict(lambda: [0, 0])
    for cell in found:
        groups[(cell.day, cell.store)][0] += cell.visits
        groups[(cell.day, cell.store)][1] += cell.sales
    return _sum(groups)


def by_hour(found: Iterable[Cell]) -> list[Line]:
    groups: dict[tuple[Any, ...], list[int]] = defaultdict(lambda: [0, 0])
    for cell in found:
        groups[(cell.hour,)][0] += cell.visits
        groups[(cell.hour,)][1] += cell.sales
    return _sum(groups)


def total(found: Iterable[Cell]) -> Line:
    visits = sales = 0
    for cell in found:
        visits, sales = visits + cell.visits, sales + cell.sales
    return Line((), visits, sales)
