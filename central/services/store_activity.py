"""What one store did lately, for head office: its newest sales, parked entries and drift."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from central.models import ParkedEntry, Sale, SaleDrift, Store
from central.services import fleet
from central.services.stores import get_store


@dataclass(frozen=True)
class StoreActivity:
    store: Store
    liveness: fleet.StoreLiveness
    sales: list[Sale]
    sales_total: int
    parked: list[ParkedEntry]
    parked_total: int
    drift: list[SaleDrift]
    drift_total: int


def activity(session: Session, code: str, limit: int = 20) -> StoreActivity:
    """The store ``code`` (NotFound if unknown), its liveness and its newest ``limit``
    sales, parked entries and drifted sales, with how many there are of each."""
    store = get_store(session, code)
    (liveness,), _total = fleet.fleet(session, 1, 1, group=None, store_code=store.code)
    sales = list(session.scalars(select(Sale).where(Sale.store_id == store.id)
                                 .order_by(Sale.sold_at.desc(), Sale.id.desc()).limit(limit)))
    sales_total = session.scalar(select(func.count()).select_from(Sale)
                                 .where(Sale.store_id == store.id)) or 0
    parked = list(session.scalars(select(ParkedEntry).where(ParkedEntry.store_code == store.code)
                                  .order_by(ParkedEntry.id.desc()).limit(limit)))
    parked_total = session.scalar(select(func.count()).select_from(ParkedEntry)
                                  .where(ParkedEntry.store_code == store.code)) or 0
    drift_query = select(SaleDrift).join(Sale, SaleDrift.sale_id == Sale.id) \
        .where(Sale.store_id == store.id)
    drift = list(session.scalars(drift_query.order_by(SaleDrift.id.desc()).limit(limit)))
    drift_total = session.scalar(select(func.count()).select_from(drift_query.subquery())) or 0
    return StoreActivity(store, liveness, sales, int(sales_total), parked, int(parked_total),
                         drift, int(drift_total))


def drift_of(session: Session, sale: Sale) -> SaleDrift | None:
    """The drift central found on ``sale``, if any."""
    return session.scalar(select(SaleDrift).where(SaleDrift.sale_id == sale.id))
