"""Upstream ingest: store batches recorded exactly once, and the sales they carry.

A batch is handled in one transaction under the row lock of the store's ingest cursor, so
two ingest workers never interleave the same store. Entries at or below the cursor are
duplicates; an entry beyond cursor+1 is a gap and is left for the store to resend.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from central.models import IngestCursor, ParkedEntry, Sale, SaleLine, Store
from central.services import fleet
from central.services.catalog import page
from central.services.errors import NotFound
from protocol.encoding import WireError, dumps
from protocol.messages import parse_fiscal, parse_sale


@dataclass(frozen=True)
class IngestResult:
    store: str
    epoch: str
    acked: int
    applied: int
    duplicates: int
    gap: bool
    parked: int
    last_id: str | None = None
    # The batch reuses seqs that central holds for other entries (a store restored from a
    # backup): nothing was applied; the ack's id tells the store to start a new epoch.
    conflict: bool = False


class UnknownStore(Exception):
    """A batch from a store code central does not know."""


def _lock_cursor(session: Session, store: Store, epoch: str) -> IngestCursor:
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    session.execute(insert(IngestCursor)
                    .values(store_id=store.id, epoch=epoch, seq=0,
                            updated_at=dt.datetime.now(dt.UTC))
                    .on_conflict_do_nothing(index_elements=["store_id", "epoch"]))
    cursor = session.scalar(select(IngestCursor)
                            .where(IngestCursor.store_id == store.id, IngestCursor.epoch == epoch)
                            .with_for_update())
    assert cursor is not None
    return cursor


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
    if entry["kind"] != "sale":
        raise WireError(f"unknown entry kind {entry['kind']!r}")
    sale = parse_sale(entry["body"])
    if sale["store"] != store.code:
        raise WireError(f"sale names store {sale['store']!r} but came from {store.code!r}")
    problems = [f"{field} longer than {limit}" for field, limit in _TEXT_LIMITS.items()
                if len(sale[field] or "") > limit]
    if not -_INT_LIMIT < sale["number"] < _INT_LIMIT:
        problems.append("number out of range")
    if abs(sale["total"]) >= _MONEY_LIMIT:
        problems.append("total out of range")
    for i, line in enumerate(sale["lines"], start=1):
        problems += [f"line {i}: {field} longer than {limit}"
                     for field, limit in _LINE_TEXT_LIMITS.items()
                     if len(line[field] or "") > limit]
        for field, limit in (("qty", _QTY_LIMIT), ("unit_price", _MONEY_LIMIT),
                             ("amount", _MONEY_LIMIT), ("vat_rate", _RATE_LIMIT)):
            if abs(line[field]) >= limit:
                problems.append(f"line {i}: {field} out of range")
    if problems:
        raise WireError(f"sale central cannot store: {'; '.join(problems)}")
    return sale


def _record_sales(session: Session, store: Store, epoch: str,
                  readable: list[tuple[dict[str, Any], dict[str, Any]]]) -> int:
    """Insert the sales whose UUID central does not hold yet (in bulk); returns how many.

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
        return 0
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
    return len(inserted)


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


def _forked(session: Session, store: Store, epoch: str, cursor: IngestCursor,
            batch: dict[str, Any]) -> bool:
    """Whether the batch comes from another history of the epoch than central holds.

    A store restored from a backup numbers new sales with seqs central already holds for
    other sales. A true resend carries the same ids at the same seqs, and a batch that
    starts right after the cursor names, in ``prev``, the entry central holds there.
    """
    first = batch["entries"][0]["seq"]
    prev = batch.get("prev")
    if (first == cursor.seq + 1 and first > 1 and prev is not None
            and cursor.last_id is not None and prev != cursor.last_id):
        return True
    return bool(_reused_seqs(session, store, epoch, cursor, batch["entries"]))


def _reused_seqs(session: Session, store: Store, epoch: str, cursor: IngestCursor,
                 entries: list[dict[str, Any]]) -> list[int]:
    """Seqs at or below the cursor whose entry is not the one central holds there.

    Seqs whose entry left no sale row under this epoch (parked, or a sale known from
    another epoch) are checked only at the cursor itself (its ``last_id``).
    """
    held = {entry["seq"]: entry["id"] for entry in entries if entry["seq"] <= cursor.seq}
    if not held:
        return []
    known = dict(session.execute(select(Sale.seq, Sale.uuid).where(
        Sale.store_id == store.id, Sale.store_epoch == epoch,
        Sale.seq.in_(list(held)))).all())
    if cursor.last_id is not None:
        known.setdefault(cursor.seq, cursor.last_id)
    return sorted(seq for seq, entry_id in held.items()
                  if seq in known and known[seq] != entry_id)


def _record_fiscal(session: Session, store: Store, receipt: dict[str, Any]) -> bool:
    """Note the fiscal receipt on its sale (the same report twice changes nothing)."""
    done = session.execute(
        update(Sale).where(Sale.uuid == str(receipt["sale"]), Sale.store_id == store.id)
        .values(fiscal_document=receipt["document_number"],
                fiscal_receipt=receipt["receipt_number"], fiscal_device=receipt["device"],
                fiscalised_at=receipt["fiscalised_at"]))
    return bool(done.rowcount)


def ingest_batch(session: Session, batch: dict[str, Any], topic: str) -> IngestResult:
    """Apply a validated batch; the caller commits and then publishes the acknowledgement."""
    code = batch["store"]
    store = session.scalar(select(Store).where(Store.code == code))
    if store is None:
        raise UnknownStore(code)
    cursor = _lock_cursor(session, store, batch["epoch"])
    fleet.record_batch(session, store, batch["epoch"], batch.get("head"),
                       batch["entries"][-1]["seq"], dt.datetime.now(dt.UTC))
    if _forked(session, store, batch["epoch"], cursor, batch):
        return IngestResult(store=code, epoch=batch["epoch"], acked=cursor.seq, applied=0,
                            duplicates=0, gap=False, parked=0, last_id=cursor.last_id,
                            conflict=True)
    # Decide everything in Python first (which entries continue the cursor, which are
    # readable), then write in a few bulk statements: no savepoint per entry.
    duplicates = 0
    gap = False
    readable: list[tuple[dict[str, Any], dict[str, Any]]] = []
    fiscal: list[dict[str, Any]] = []
    unreadable: list[ParkedEntry] = []
    seq, last_id = cursor.seq, cursor.last_id
    for entry in batch["entries"]:
        if entry["seq"] <= seq:
            duplicates += 1
            continue
        if entry["seq"] != seq + 1:
            gap = True
            break
        try:
            if entry["kind"] == "fiscal":
                fiscal.append(parse_fiscal(entry["body"]))
            else:
                readable.append((entry, _readable_sale(entry, store)))
        except WireError as exc:
            # Kept for an operator, and the cursor moves on: one bad entry must not
            # block every later sale of the store.
            unreadable.append(ParkedEntry(topic=topic, store_code=code, seq=entry["seq"],
                                          reason=str(exc), payload=dumps(entry).decode()))
        seq, last_id = entry["seq"], entry["id"]
    applied = _record_sales(session, store, batch["epoch"], readable)
    duplicates += len(readable) - applied
    for receipt in fiscal:
        if not _record_fiscal(session, store, receipt):
            unreadable.append(ParkedEntry(
                topic=topic, store_code=code, seq=None,
                reason=f"fiscal receipt of sale {receipt['sale']}, which central does not "
                       "hold for this store", payload=dumps(receipt).decode()))
    parked = len(unreadable)
    session.add_all(unreadable)
    cursor.seq, cursor.last_id = seq, last_id
    cursor.updated_at = dt.datetime.now(dt.UTC)
    session.flush()
    return IngestResult(store=code, epoch=batch["epoch"], acked=cursor.seq, applied=applied,
                        duplicates=duplicates, gap=gap, parked=parked, last_id=cursor.last_id)


def park(session: Session, topic: str, store_code: str | None, reason: str,
         payload: bytes) -> None:
    """Keep a message that could not be read at all."""
    session.add(ParkedEntry(topic=topic, store_code=store_code, seq=None, reason=reason,
                            payload=payload.decode("utf-8", errors="replace")))


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


def get_sale(session: Session, uuid: str) -> Sale:
    sale = session.scalar(select(Sale).where(Sale.uuid == uuid))
    if sale is None:
        raise NotFound(f"no sale {uuid!r}")
    return sale
