"""The points ledger at central (SPEC L5): append-only entries, the balance is their sum.

Entries are ``rules.loyalty.ledger`` entries stored one row each under their natural key
(customer, kind, document, line, kind undone): recording the same sale again adds nothing,
the same key with other content is refused (409), never overwritten. A customer's kept
balance (``points_balances``) is updated with the entries in the same transaction, its row
locked first so that two writers for one customer queue; :func:`check_balances` proves it
equals the sum, and every change of it goes to the stores as the ``points_balance``
entity (customers bucket) in that transaction too. Customers are UUID strings: the
customers table comes with its own feature (no foreign key yet).

Central is authoritative: :func:`record_sale` computes a sale's points itself with
``rules.loyalty`` at the profile version the store used.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import cast

from sqlalchemy import Table, bindparam, func, select, update
from sqlalchemy import insert as sqlalchemy_insert
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from central.models.loyalty import PointsBalance, PointsEntry
from central.services import changelog
from central.services.customers import resolve
from central.services.errors import Conflict, Invalid, NotFound, ServiceError
from central.services.loyalty_profiles import profile_at
from protocol.entities import ENTITIES
from protocol.streams import ALL
from rules.loyalty.accrual import Accrual, DocumentKind, Sale, SaleLine, accrue
from rules.loyalty.accrual_policy import AccrualPolicy
from rules.loyalty.errors import GiftRefused, InvalidEntry, LedgerError
from rules.loyalty.ledger import (
    Applied,
    ConflictingEntry,
    Entry,
    EntryKey,
    Ledger,
    earn_entries,
    reverse_sale_lines,
    spend_entry,
    transfer_entries,
)
from rules.loyalty.levels import check_one_gift

ZERO = Decimal(0)
POINTS_BALANCE = ENTITIES["points_balance"]
MAX_ADJUSTMENT = Decimal(1_000_000)


def check_customer(customer: str) -> str:
    try:
        return str(uuid.UUID(customer))
    except (ValueError, AttributeError, TypeError):
        # No customer can have that id: not found (still naming the field).
        raise NotFound(f"no customer {customer!r}: a customer id is a UUID",
                       {"customer": ["a customer id is a UUID"]}) from None


def _entry(row: PointsEntry) -> Entry:
    refers = None if row.refers_kind is None else EntryKey(
        row.refers_kind, row.refers_document or "", row.refers_line or 0)
    return Entry(row.kind, row.document, row.line, row.customer_id,  # type: ignore[arg-type]
                 row.points, row.at, row.store, row.profile_version, row.reason, refers)


def _row(entry: Entry, author: str | None) -> PointsEntry:
    refers = entry.refers_to
    return PointsEntry(customer_id=entry.customer, kind=entry.kind, document=entry.document,
                       line=entry.line, of_kind=entry.key.of, points=entry.points,
                       at=entry.at, store=entry.store, profile_version=entry.profile_version,
                       reason=entry.reason,
                       refers_kind=None if refers is None else refers.kind,
                       refers_document=None if refers is None else refers.document,
                       refers_line=None if refers is None else refers.line, author=author)


def rows(session: Session, customer: str) -> list[PointsEntry]:
    return list(session.scalars(select(PointsEntry).where(PointsEntry.customer_id == customer)
                                .order_by(PointsEntry.id)))


def ledger(session: Session, customer: str) -> Ledger:
    return Ledger(customer, tuple(_entry(r) for r in rows(session, customer)))


def _lock_balance(session: Session, customer: str, now: dt.datetime) -> PointsBalance:
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    session.execute(insert(PointsBalance).values(customer_id=customer, points=ZERO, entries=0,
                                                 updated_at=now)
                    .on_conflict_do_nothing(index_elements=["customer_id"]))
    return session.execute(select(PointsBalance).where(PointsBalance.customer_id == customer)
                           .with_for_update()).scalar_one()


def append(session: Session, customer: str, batch: Sequence[Entry], now: dt.datetime,
           author: str | None = None) -> Applied:
    """Apply ``batch`` (all or nothing); duplicates are skipped, conflicts refused."""
    balance = _lock_balance(session, customer, now)
    try:
        applied = ledger(session, customer).apply(batch)
    except ConflictingEntry as exc:
        raise Conflict(str(exc), {"entries": [str(exc)]}) from exc
    except LedgerError as exc:
        raise Invalid(str(exc), {"entries": [str(exc)]}) from exc
    for entry in applied.added:
        session.add(_row(entry, author))
    if applied.added:
        added = sum((e.points for e in applied.added), ZERO)
        session.execute(update(PointsBalance).where(PointsBalance.customer_id == customer)
                        .values(points=PointsBalance.points + added,
                                entries=PointsBalance.entries + len(applied.added),
                                updated_at=now))
        session.expire(balance)
        publish_balance(session, customer, balance.points, now)
    session.flush()
    return applied


def balance_wire(customer: str, points: Decimal, at: dt.datetime) -> dict[str, object]:
    """The ``points_balance`` entity (customers bucket): what every store spends against."""
    return {"customer": customer, "points": points, "updated_at": at.isoformat()}


def publish_balance(session: Session, customer: str, points: Decimal,
                    at: dt.datetime) -> None:
    """Send the customer's balance to every store, in the caller's transaction."""
    changelog.record(session, POINTS_BALANCE.bucket, ALL, POINTS_BALANCE.name, customer,
                     "upsert", balance_wire(customer, points, at))


def forget_balance(session: Session, customer: str) -> None:
    """The stores drop a customer's balance: a merged customer (the survivor's balance
    travels with its own entries) or an erased one (no card finds it any more)."""
    changelog.record(session, POINTS_BALANCE.bucket, ALL, POINTS_BALANCE.name, customer,
                     "delete", None)


_ENTRY_COLUMNS = tuple(c.key for c in PointsEntry.__table__.columns
                       if c.key not in ("id", "recorded_at"))


def append_many(session: Session, batches: Mapping[str, Sequence[Entry]],
                now: dt.datetime) -> dict[str, Applied | ServiceError]:
    """:func:`append` for many customers in a few statements (ingest: a batch of sales).

    Each customer's batch is all or nothing as with ``append``; a refused one is answered
    with its error and the others are written. Only entries that name no other entry
    (earns, spends, transfers) come here: their duplicates and conflicts are decided by
    the entries of the same documents, so only those are read, not whole ledgers.
    """
    customers = sorted(c for c, batch in batches.items() if batch)
    if not customers:
        return {}
    if any(e.refers_to is not None for c in customers for e in batches[c]):
        raise ValueError("append_many takes entries that name no other entry")
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    session.execute(insert(PointsBalance).values(
        [{"customer_id": c, "points": ZERO, "entries": 0, "updated_at": now}
         for c in customers]).on_conflict_do_nothing(index_elements=["customer_id"]))
    session.execute(select(PointsBalance.customer_id).where(
        PointsBalance.customer_id.in_(customers)).order_by(PointsBalance.customer_id)
        .with_for_update())  # one lock order for every writer
    documents = sorted({e.document for c in customers for e in batches[c]})
    known: dict[str, list[Entry]] = {}
    for row in session.scalars(select(PointsEntry).where(
            PointsEntry.customer_id.in_(customers), PointsEntry.document.in_(documents))
            .order_by(PointsEntry.id)):
        known.setdefault(row.customer_id, []).append(_entry(row))
    results: dict[str, Applied | ServiceError] = {}
    rows: list[dict[str, object]] = []
    sums: list[dict[str, object]] = []
    for customer in customers:
        try:
            applied = Ledger(customer, tuple(known.get(customer, ()))).apply(batches[customer])
        except ConflictingEntry as exc:
            results[customer] = Conflict(str(exc), {"entries": [str(exc)]})
            continue
        except LedgerError as exc:
            results[customer] = Invalid(str(exc), {"entries": [str(exc)]})
            continue
        results[customer] = applied
        if applied.added:
            rows += [{column: getattr(row, column) for column in _ENTRY_COLUMNS}
                     | {"recorded_at": now}
                     for row in (_row(entry, None) for entry in applied.added)]
            sums.append({"b_customer": customer, "b_entries": len(applied.added),
                         "b_points": sum((e.points for e in applied.added), ZERO)})
    if rows:
        session.execute(sqlalchemy_insert(PointsEntry), rows)
        table = cast(Table, PointsBalance.__table__)
        session.execute(table.update().where(table.c.customer_id == bindparam("b_customer"))
                        .values(points=table.c.points + bindparam("b_points",
                                                                  type_=table.c.points.type),
                                entries=table.c.entries + bindparam("b_entries"),
                                updated_at=now), sums)
        for held in list(session.identity_map.values()):
            if isinstance(held, PointsBalance):
                session.expire(held)  # their kept points changed underneath
        changed = [row["b_customer"] for row in sums]
        for customer, points in session.execute(
                select(PointsBalance.customer_id, PointsBalance.points)
                .where(PointsBalance.customer_id.in_(changed))
                .order_by(PointsBalance.customer_id)):
            publish_balance(session, customer, points, now)
    return results


@dataclass(frozen=True)
class GiftSpend:
    """A gift line of a sale and the points the store spent on it."""

    line: int
    points: Decimal


def sale_entries(customer: str, sale_uuid: str, store: str, lines: Sequence[SaleLine],
                 at: dt.datetime, policy: AccrualPolicy, profile_version: int,
                 gifts: Sequence[GiftSpend] = (),
                 document: DocumentKind = "receipt") -> tuple[Entry, ...]:
    """The earn and spend entries of one sale, computed by the rules (central decides)."""
    return sale_points(customer, sale_uuid, store, lines, at, policy, profile_version,
                       gifts, document)[1]


def sale_points(customer: str, sale_uuid: str, store: str, lines: Sequence[SaleLine],
                at: dt.datetime, policy: AccrualPolicy, profile_version: int,
                gifts: Sequence[GiftSpend] = (),
                document: DocumentKind = "receipt") -> tuple[Accrual, tuple[Entry, ...]]:
    """The sale's accrual (its points, booked or not) and its earn and spend entries."""
    gift_lines = {g.line for g in gifts}
    known = {line.line for line in lines}
    for gift in gifts:
        if gift.line not in known:
            raise Invalid(f"gift line {gift.line} is not a line of the sale",
                          {"gifts": [f"no line {gift.line}"]})
    try:
        check_one_gift([str(g.line) for g in gifts])
    except GiftRefused as exc:
        raise Invalid(exc.reason, {"gifts": [exc.reason]}) from exc
    sale = Sale(sale_uuid, tuple(line if line.line not in gift_lines or line.kind == "gift"
                                 else dataclasses.replace(line, kind="gift")
                                 for line in lines), document)
    accrual = accrue(sale, policy)
    entries = list(earn_entries(accrual, customer, at, store=store,
                                profile_version=profile_version))
    for gift in gifts:
        entries.append(spend_entry(sale_uuid, gift.line, customer, gift.points, at,
                                   store=store, profile_version=profile_version))
    return accrual, tuple(entries)


def record_sale(session: Session, customer: str, sale_uuid: str, store: str,
                lines: Sequence[SaleLine], at: dt.datetime, profile_code: str,
                profile_version: int, now: dt.datetime, gifts: Sequence[GiftSpend] = (),
                document: DocumentKind = "receipt") -> Applied:
    """Record an ingested sale's points, computed at the profile version the store used.

    Replaying the same sale (the same lines, version and gifts) adds nothing.
    """
    customer = check_customer(customer)
    profile = profile_at(session, profile_code, profile_version)
    assert isinstance(profile.accrual, AccrualPolicy)
    try:
        entries = sale_entries(customer, sale_uuid, store, lines, at, profile.accrual,
                               profile_version, gifts, document)
    except InvalidEntry as exc:
        raise Invalid(str(exc), {exc.field: [exc.message]}) from exc
    return append(session, customer, entries, now)


def reverse_lines(session: Session, customer: str, sale_uuid: str, return_uuid: str,
                  returned: Sequence[tuple[int, int]], at: dt.datetime, store: str,
                  now: dt.datetime) -> Applied:
    """Give back exactly the points of the sale lines returned (pairs of return line, sale
    line): every earn and spend of those lines reversed once, never recomputed.

    ``customer`` is where the return's points go now (a merged customer's survivor). When
    the sale's entries are in another ledger (the customer it was made to, merged since),
    the reversals are written there, next to what they reverse, and their net moves to
    ``customer`` by a transfer keyed by the return: the survivor's balance is right, both
    ledgers stay append-only."""
    customer = check_customer(customer)
    holder = None
    if session.scalar(select(PointsEntry.id).where(
            PointsEntry.document == sale_uuid, PointsEntry.customer_id == customer,
            PointsEntry.kind.in_(("earn", "spend"))).limit(1)) is None:
        # Not in the customer's own ledger: in that of a customer merged into it?
        holder = next((other for other in session.scalars(
            select(PointsEntry.customer_id).where(
                PointsEntry.document == sale_uuid, PointsEntry.customer_id != customer,
                PointsEntry.kind.in_(("earn", "spend"))).distinct())
            if resolve(session, other) == customer), None)
    owner = holder or customer
    for name in sorted({owner, customer}):  # one lock order for every writer
        _lock_balance(session, name, now)  # before the ledger is read: reversals queue
    try:
        batch = reverse_sale_lines(ledger(session, owner), sale_uuid, return_uuid,
                                   returned, at, store=store)
    except LedgerError as exc:
        raise Invalid(str(exc), {"lines": [str(exc)]}) from exc
    applied = append(session, owner, batch, now)
    net = sum((e.points for e in batch), ZERO)
    if owner != customer and net != 0:
        out, into = transfer_entries(f"return:{return_uuid}", owner, customer, net, now,
                                     reason=f"return {return_uuid} of a merged customer's "
                                            "sale")
        append(session, owner, (out,), now)
        append(session, customer, (into,), now)
    return applied


def transfer_balance(session: Session, source: str, target: str, document: str,
                     reason: str, now: dt.datetime) -> Decimal:
    """Move ``source``'s whole balance (negative too) into ``target``'s ledger: a transfer
    out of one and into the other, both keyed by ``document`` (a merge), so doing it
    again moves nothing more. Returns the points moved."""
    source, target = check_customer(source), check_customer(target)
    for name in sorted({source, target}):
        _lock_balance(session, name, now)
    points = balance(session, source)
    if points == 0:
        return ZERO
    out, into = transfer_entries(document, source, target, points, now, reason=reason)
    if ledger(session, target).get(into.key) is not None:
        return ZERO  # moved already: the source's balance is what came after
    for name, entry in sorted(((source, out), (target, into)), key=lambda pair: pair[0]):
        append(session, name, (entry,), now)
    return points


def adjust(session: Session, customer: str, points: Decimal, reason: str, author: str,
           now: dt.datetime, document: str | None = None) -> Entry:
    """A manual adjustment with its reason (who made it is kept)."""
    customer = check_customer(customer)
    errors: dict[str, list[str]] = {}
    if not (reason or "").strip():
        errors["reason"] = ["an adjustment needs a reason"]
    if not isinstance(points, Decimal) or not points.is_finite() or points == 0 \
            or abs(points) > MAX_ADJUSTMENT:
        errors["points"] = [f"non-zero, at most {MAX_ADJUSTMENT} either way"]
    if errors:
        raise Invalid("the adjustment is not valid", errors)
    entry = Entry("adjustment", document or f"adj-{uuid.uuid4()}", 1, customer, points, now,
                  None, None, reason.strip())
    append(session, customer, (entry,), now, author=author)
    return entry


def balance(session: Session, customer: str) -> Decimal:
    """The balance: the sum of the entries (the ledger's own truth)."""
    return session.scalar(select(func.coalesce(func.sum(PointsEntry.points), ZERO))
                          .where(PointsEntry.customer_id == customer)) or ZERO


def check_balances(session: Session) -> list[tuple[str, Decimal, Decimal]]:
    """Customers whose kept balance differs from the sum of their entries (empty: none)."""
    sums = (select(PointsEntry.customer_id, func.sum(PointsEntry.points).label("total"),
                   func.count().label("n"))
            .group_by(PointsEntry.customer_id).subquery())
    query = (select(PointsBalance.customer_id, PointsBalance.points,
                    func.coalesce(sums.c.total, ZERO))
             .outerjoin(sums, sums.c.customer_id == PointsBalance.customer_id)
             .where((PointsBalance.points != func.coalesce(sums.c.total, ZERO))
                    | (PointsBalance.entries != func.coalesce(sums.c.n, 0))))
    missing = (select(sums.c.customer_id, sums.c.total)
               .outerjoin(PointsBalance, PointsBalance.customer_id == sums.c.customer_id)
               .where(PointsBalance.customer_id.is_(None)))
    return [(c, Decimal(k), Decimal(s)) for c, k, s in session.execute(query)] + \
        [(c, ZERO, Decimal(s)) for c, s in session.execute(missing)]
