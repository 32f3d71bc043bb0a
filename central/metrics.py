"""Prometheus metrics of central, computed from the database at scrape time.

Counters are totals read from the tables (Prometheus derives rates: ingest rate is
``rate(tessera_sales_ingested_total[1m])``); nothing is kept in process memory, so every
gunicorn worker answers the same.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from central.models import ParkedEntry, PointsDrift, Sale, SaleDrift, Store
from central.services import changelog, fleet

HELP = {
    "tessera_stream_head": ("gauge", "Latest version of each change-log stream."),
    "tessera_store_online": ("gauge", "1 while the store's last birth is not followed by "
                             "its will."),
    "tessera_store_last_seen_age_seconds": ("gauge", "Seconds since central last heard "
                                            "from the store."),
    "tessera_store_outbox_pending": ("gauge", "Entries the store holds that central has "
                                     "not acknowledged (its last reported outbox head "
                                     "minus central's cursor)."),
    "tessera_store_sync_lag_versions": ("gauge", "Versions a store is behind on a stream "
                                        "(as it last reported them)."),
    "tessera_store_ingested_seq": ("gauge", "Highest contiguous upstream seq committed "
                                   "for the store's current epoch."),
    "tessera_sales_ingested_total": ("counter", "Sales received from each store."),
    "tessera_parked_entries_total": ("counter", "Upstream messages or entries central "
                                     "could not apply (kept for an operator)."),
    "tessera_sale_drift_total": ("counter", "Sales central priced differently."),
    "tessera_points_drift_total": ("counter", "Sales whose points central computed otherwise "
                                   "than the store (kind=difference) or could not record "
                                   "(kind=unrecorded)."),
    "tessera_sales_awaiting_repricing": ("gauge", "Sales not yet priced again at central."),
}


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _sample(name: str, value: float | int, **labels: str) -> str:
    if labels:
        inner = ",".join(f'{k}="{_label(v)}"' for k, v in sorted(labels.items()))
        return f"{name}{{{inner}}} {value}"
    return f"{name} {value}"


def collect(session: Session, now: dt.datetime) -> Iterable[str]:
    heads = changelog.heads(session)
    for stream, version in sorted(heads.items()):
        yield _sample("tessera_stream_head", version, stream=stream)
    sales = dict(session.execute(select(Sale.store_id, func.count())
                                 .group_by(Sale.store_id)).all())
    ids = dict(session.execute(select(Store.code, Store.id)).all())
    stores, _total = fleet.fleet(session, now=now)  # the same figures as GET /api/v1/fleet
    for store in stores:
        yield _sample("tessera_sales_ingested_total", sales.get(ids[store.code], 0),
                      store=store.code)
        yield _sample("tessera_store_ingested_seq", store.acked_seq or 0, store=store.code)
        if store.state == "never":
            continue
        yield _sample("tessera_store_online", int(store.online), store=store.code)
        if store.last_seen is not None:
            yield _sample("tessera_store_last_seen_age_seconds",
                          round((now - store.last_seen).total_seconds(), 3), store=store.code)
        if store.backlog is not None:
            yield _sample("tessera_store_outbox_pending", store.backlog, store=store.code)
        for lag in store.streams:
            yield _sample("tessera_store_sync_lag_versions", lag.lag, store=store.code,
                          stream=lag.stream)
    yield _sample("tessera_parked_entries_total",
                  session.scalar(select(func.count()).select_from(ParkedEntry)) or 0)
    yield _sample("tessera_sale_drift_total",
                  session.scalar(select(func.count()).select_from(SaleDrift)) or 0)
    kinds = dict(session.execute(select(PointsDrift.kind, func.count())
                                 .group_by(PointsDrift.kind)).all())
    for kind in ("difference", "unrecorded"):
        yield _sample("tessera_points_drift_total", kinds.get(kind, 0), kind=kind)
    yield _sample("tessera_sales_awaiting_repricing",
                  session.scalar(select(func.count()).select_from(Sale)
                                 .where(Sale.repriced.is_(False))) or 0)


def render(session: Session, now: dt.datetime) -> str:
    """The exposition text (format 0.0.4), HELP and TYPE first for every family."""
    samples = list(collect(session, now))
    lines: list[str] = []
    for name, (kind, text) in HELP.items():
        family = [s for s in samples if s.split("{")[0].split(" ")[0] == name]
        if family:
            lines += [f"# HELP {name} {text}", f"# TYPE {name} {kind}", *family]
    return "\n".join(lines) + "\n"
