"""Sales at central: the ``sale`` upstream kind's handler, and reading sales back.

The batch, its cursor, epochs, gaps and parking are ``central.services.upstream``'s; this
module records the sales of a batch in bulk (one multi-row INSERT, their lines by COPY).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select, tuple_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, lazyload

from central.models import Sale, SaleLine, Store
from central.services import customers, sale_loyalty
from central.services.catalog import page
from central.services.errors import Invalid, NotFound
from central.services.upstream import Recorded
from protocol import upstream as upstream_kinds
from protocol.encoding import WireError, dumps

# Column limits of ``sales`` and ``sale_lines``: an entry beyond them is parked like any
# unreadable entry, rather than failing the store's whole batch at the database forever.
_TEXT_LIMITS = {"till": 64, "cashier": 64}
_LINE_TEXT_LIMITS = {"sku": 64, "barcode": 64, "name": 200}
_MONEY_LIMIT = Decimal("1e12")  # Numeric(14, 2)
_QTY_LIMIT = Decimal("1e9")  # Numeric(12, 3)
_RATE_LIMIT = Decimal("1e3")  # Numeric(5, 2)
_INT_LIMIT = 2**31


def _readable_sale(entry: dict[str, Any], store: Store) -> dict[str, Any]:
    """The validated sale of ``entry``, or WireError: no database needed to decide."""
    sale = upstream_kinds.read("sale", entry["body"])
    if sale["store"] != store.code:
        raise WireError(f"sale names store {sale['store']!r} but came from {store.code!r}")
    problems = [f"{field} longer than {limit}" for field, limit in _TEXT_LIMITS.items()
                if len(sale[field] or "") > limit]
    # PostgreSQL text cannot hold NUL: stored, it would fail the batch's transaction for
    # ever (the store's every later sale waiting behind it).
    problems += [f"{field} contains a NUL character" for field in _TEXT_LIMITS
                 if "\x00" in (sale[field] or "")]
    if not -_INT_LIMIT < sale["number"] < _INT_LIMIT:
        problems.append("number out of range")
    if abs(sale["total"]) >= _MONEY_LIMIT:
        problems.append("total out of range")
    for i, line in enumerate(sale["lines"], start=1):
        problems += [f"line {i}: {field} longer than {limit}"
                     for field, limit in _LINE_TEXT_LIMITS.items()
                     if len(line[field] or "") > limit]
        problems += [f"line {i}: {field} contains a NUL character"
                     for field in _LINE_TEXT_LIMITS if "\x00" in (line[field] or "")]
        for field, limit in (("qty", _QTY_LIMIT), ("unit_price", _MONEY_LIMIT),
                             ("amount", _MONEY_LIMIT), ("vat_rate", _RATE_LIMIT)):
            if abs(line[field]) >= limit:
                problems.append(f"line {i}: {field} out of range")
    if problems:
        raise WireError(f"sale central cannot store: {'; '.join(problems)}")
    return sale


def _record_sales(session: Session, store: Store, epoch: str,
                  readable: list[tuple[dict[str, Any], dict[str, Any]]]) -> set[str]:
    """Insert the sales whose UUID central does not hold yet (in bulk); returns their UUIDs.

    A UUID already held (a store restored from a backup sends it under a new epoch, or
    another worker just committed it) is skipped by ``ON CONFLICT (uuid) DO NOTHING``,
    which also waits for a concurrent insert of the same UUID to settle.
    """
    rows: dict[str, dict[str, Any]] = {}
    lines: dict[str, list[dict[str, Any]]] = {}
    now = dt.datetime.now(dt.UTC)
    for entry, sale in readable:
        uuid = str(sale["uuid"])
        if uuid in rows:
            continue  # the same sale twice in one batch: recorded once
        rows[uuid] = {"uuid": uuid, "store_id": store.id, "store_epoch": epoch,
                      "seq": entry["seq"], "number": sale["number"], "till": sale["till"],
                      "cashier": sale["cashier"], "sold_at": sale["created_at"],
                      "received_at": now, "total": sale["total"], "repriced": False,
                      "body": dumps(entry["body"]).decode()}
        lines[uuid] = [{"line_no": i, "sku": line["sku"], "barcode": line["barcode"],
                        "name": line["name"], "qty": line["qty"],
                        "unit_price": line["unit_price"], "amount": line["amount"],
                        "vat_rate": line["vat_rate"]}
                       for i, line in enumerate(sale["lines"], start=1)]
    if not rows:
        return set()
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    sales_table, lines_table = Sale.__table__, SaleLine.__table__
    inserted = session.execute(
        insert(sales_table).on_conflict_do_nothing(index_elements=["uuid"])
        .returning(sales_table.c.id, sales_table.c.uuid), list(rows.values())).all()
    line_rows = [{**line, "sale_id": sale_id}
                 for sale_id, uuid in inserted for line in lines[uuid]]
    if line_rows and dialect == "postgresql":
        _copy_lines(session, line_rows)
    elif line_rows:
        session.execute(insert(lines_table), line_rows)
    return {uuid for _sale_id, uuid in inserted}


_LINE_COLUMNS = ("sale_id", "line_no", "sku", "barcode", "name", "qty", "unit_price",
                 "amount", "vat_rate")


def _copy_lines(session: Session, rows: list[dict[str, Any]]) -> None:
    """COPY the lines in: a batch has hundreds, and one INSERT each is most of its cost."""
    raw = session.connection().connection.driver_connection
    assert raw is not None
    with raw.cursor() as cursor, cursor.copy(
            f"COPY sale_lines ({', '.join(_LINE_COLUMNS)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row([row[column] for column in _LINE_COLUMNS])


class SaleHandler:
    """The ``sale`` upstream kind: a completed sale, recorded once by its UUID."""

    kind = "sale"
    after: frozenset[str] = frozenset({"customer"})  # a sale names its customer

    def read(self, entry: dict[str, Any], store: Store) -> dict[str, Any]:
        return _readable_sale(entry, store)

    def record(self, session: Session, store: Store, epoch: str,
               items: list[tuple[dict[str, Any], Any]]) -> Recorded:
        inserted = _record_sales(session, store, epoch, items)
        new = [sale for _entry, sale in items if str(sale["uuid"]) in inserted]
        customers.record_sales(session, new)
        # After the aggregates, which lock each named customer's row: a merge of that
        # customer is then committed (its redirect seen) or waits for this batch.
        sale_loyalty.record_sales(session, store, new)
        return Recorded(applied=len(inserted), duplicates=len(items) - len(inserted))

    def held(self, session: Session, store: Store, epoch: str,
             seqs: list[int]) -> dict[int, str]:
        return dict(session.execute(select(Sale.seq, Sale.uuid).where(
            Sale.store_id == store.id, Sale.store_epoch == epoch,
            Sale.seq.in_(seqs))).all())


def list_sales(session: Session, page_no: int, size: int, store: str | None = None,
               since: dt.datetime | None = None,
               until: dt.datetime | None = None) -> tuple[list[Sale], int]:
    query = select(Sale).order_by(Sale.sold_at, Sale.id)
    if store:
        row = session.scalar(select(Store).where(Store.code == store))
        if row is None:
            raise NotFound(f"no store {store!r}")
        query = query.where(Sale.store_id == row.id)
    if since:
        query = query.where(Sale.sold_at >= since)
    if until:
        query = query.where(Sale.sold_at < until)
    return page(session, query, page_no, size)


@dataclass(frozen=True)
class SalePage:
    sales: list[Sale]
    next_cursor: str | None  # None on the last page
    total: int  # every sale the filters select, on all pages


def _encode(sold_at: dt.datetime, sale_id: int) -> str:
    text = json.dumps([sold_at.isoformat(), sale_id])
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _decode(cursor: str) -> tuple[dt.datetime, int]:
    try:
        when, sale_id = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        sold_at = dt.datetime.fromisoformat(when)
        if not isinstance(sale_id, int) or sold_at.tzinfo is None:
            raise ValueError(cursor)
    except (ValueError, TypeError, UnicodeDecodeError):
        raise Invalid("bad page cursor", {"after": ["start again from the first page"]}) from None
    return sold_at, sale_id


def browse_sales(session: Session, *, store: str | None = None,
                 since: dt.datetime | None = None, until: dt.datetime | None = None,
                 min_total: Decimal | None = None, max_total: Decimal | None = None,
                 cashier: str | None = None, after: str | None = None,
                 limit: int = 50) -> SalePage:
    """``limit`` sales matching the filters, newest first, after the ``after`` cursor.

    Keyset pages (no OFFSET): the last page of 200k sales costs what the first does.
    ``min_total``/``max_total`` bound the sale's total (both inclusive); ``cashier`` is the
    cashier's code exactly as the store sent it.
    """
    query = select(Sale)
    if store:
        row = session.scalar(select(Store).where(Store.code == store))
        if row is None:
            raise NotFound(f"no store {store!r}")
        query = query.where(Sale.store_id == row.id)
    if since:
        query = query.where(Sale.sold_at >= since)
    if until:
        query = query.where(Sale.sold_at < until)
    if min_total is not None:
        query = query.where(Sale.total >= min_total)
    if max_total is not None:
        query = query.where(Sale.total <= max_total)
    if cashier:
        query = query.where(Sale.cashier == cashier)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    if after:
        sold_at, sale_id = _decode(after)
        query = query.where(tuple_(Sale.sold_at, Sale.id) < (sold_at, sale_id))
    # A list shows no lines: they load only if a caller reads them.
    rows = list(session.scalars(
        query.options(lazyload(Sale.lines))
        .order_by(Sale.sold_at.desc(), Sale.id.desc()).limit(limit + 1)).unique())
    more = len(rows) > limit
    rows = rows[:limit]
    cursor = _encode(rows[-1].sold_at, rows[-1].id) if more and rows else None
    return SalePage(rows, cursor, int(total))


def get_sale(session: Session, uuid: str) -> Sale:
    sale = session.scalar(select(Sale).where(Sale.uuid == uuid))
    if sale is None:
        raise NotFound(f"no sale {uuid!r}")
    return sale
