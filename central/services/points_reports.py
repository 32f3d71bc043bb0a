"""Head office's points reports (SPEC L5): points drift, and customers who overspent.

A store may spend offline what it last knew of a balance minus its own unacknowledged
spends (``rules.loyalty.ledger.offline_allowance``), so two offline stores may together
spend the same points: the customer's balance goes negative at central, no sale is refused
or undone, and this report shows it with the sales and stores that spent.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from central.models.loyalty import PointsBalance, PointsDrift, PointsEntry

DRIFT_KINDS = ("difference", "unrecorded")


def list_drift(session: Session, page_no: int = 1, size: int = 50, *,
               store: str | None = None, customer: str | None = None,
               kind: str | None = None) -> tuple[list[PointsDrift], int]:
    """Points drift, newest first, and how many rows the filters select."""
    query = select(PointsDrift)
    if store:
        query = query.where(PointsDrift.store == store)
    if customer:
        query = query.where(PointsDrift.customer_id == customer)
    if kind:
        query = query.where(PointsDrift.kind == kind)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(query.order_by(PointsDrift.id.desc())
                           .offset((page_no - 1) * size).limit(size))
    return list(rows), int(total)


def drift_of_sale(session: Session, sale_uuid: str) -> PointsDrift | None:
    return session.scalar(select(PointsDrift).where(PointsDrift.sale_uuid == sale_uuid))


def entries_of_sale(session: Session, sale_uuid: str) -> list[PointsEntry]:
    """The ledger entries a sale made (its earns and spends, in whichever customer's
    ledger), and those that name it (reversals of its lines by a return)."""
    return list(session.scalars(select(PointsEntry).where(
        (PointsEntry.document == sale_uuid) | (PointsEntry.refers_document == sale_uuid))
        .order_by(PointsEntry.id)))


@dataclass(frozen=True)
class Spend:
    """A spend of an overspent customer: its sale, store, points and the balance after it
    (in the order central recorded the entries); ``overspent`` when that went below 0."""

    sale: str
    line: int
    store: str | None
    at: dt.datetime
    points: Decimal
    balance_after: Decimal

    @property
    def overspent(self) -> bool:
        return self.balance_after < 0


@dataclass(frozen=True)
class Overspend:
    customer: str
    balance: Decimal
    lowest: Decimal
    spends: tuple[Spend, ...]


def _running() -> Select[int, str, str, str, int, str | None, dt.datetime, Decimal, Decimal]:
    """Every entry with its customer's balance after it, in recording order."""
    return select(PointsEntry.id, PointsEntry.customer_id, PointsEntry.kind,
                  PointsEntry.document, PointsEntry.line, PointsEntry.store, PointsEntry.at,
                  PointsEntry.points,
                  func.sum(PointsEntry.points).over(partition_by=PointsEntry.customer_id,
                                                    order_by=PointsEntry.id).label("running"))


def overspends(session: Session, page_no: int = 1,
               size: int = 50) -> tuple[list[Overspend], int]:
    """Customers whose balance went below zero at some point (lowest first), with their
    current balance and every spend with the balance after it."""
    running = _running().subquery()
    lowest = (select(running.c.customer_id, func.min(running.c.running).label("lowest"))
              .group_by(running.c.customer_id)
              .having(func.min(running.c.running) < 0).subquery())
    total = session.scalar(select(func.count()).select_from(lowest)) or 0
    page = session.execute(
        select(lowest.c.customer_id, lowest.c.lowest, PointsBalance.points)
        .outerjoin(PointsBalance, PointsBalance.customer_id == lowest.c.customer_id)
        .order_by(lowest.c.lowest, lowest.c.customer_id)
        .offset((page_no - 1) * size).limit(size)).all()
    ids = [row[0] for row in page]
    spends: dict[str, list[Spend]] = {}
    if ids:
        listed = _running().where(PointsEntry.customer_id.in_(ids)).subquery()
        for row in session.execute(select(listed).where(listed.c.kind == "spend")
                                   .order_by(listed.c.id)):
            spends.setdefault(row.customer_id, []).append(Spend(
                row.document, row.line, row.store, row.at, row.points, row.running))
    return [Overspend(customer, Decimal(balance or 0), Decimal(low),
                      tuple(spends.get(customer, ()))) for customer, low, balance in page], \
        int(total)
