"""Prometheus metrics of central, computed from the database at scrape time.

Counters are totals read from the tables (Prometheus derives rates: ingest rate is
``rate(tessera_sales_ingested_total[1m])``); nothing is kept in process memory, so every
gunicorn worker answers the same.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from central.models import IngestCursor, ParkedEntry, Sale, SaleDrift, Store, StoreStatus
from central.services import changelog
from protocol.streams import parse_stream

HELP = {
    "tessera_stream_head": ("gauge", "Latest version of each change-log stream."),
    "tessera_store_online": ("gauge", "1 while the store's last birth is not followed by "
                             "its will."),
    "tessera_store_last_seen_age_seconds": ("gauge", "Seconds since central last heard "
                                            "from the store."),
    "tessera_store_outbox_pending": ("gauge", "Entries the store reported waiting to "
                                     "upload (at its last birth)."),
    "tessera_store_sync_lag_versions": ("gauge", "Versions a store was behind on a stream "
                                        "at its last birth."),
    "tessera_store_ingested_seq": ("gauge", "Highest contiguous upstream seq committed "
                                   "for the store's current epoch."),
    "tessera_sales_ingested_total": ("counter", "Sales received from each store."),
    "tessera_parked_entries_total": ("counter", "Upstream messages or entries central "
                                     "could not apply (kept for an operator)."),
    "tessera_sale_drift_total": ("counter", "Sales central priced differently."),
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
    stores = session.scalars(select(Store).order_by(Store.code)).unique().all()
    statuses = {s.store_id: s for s in session.scalars(select(StoreStatus))}
    sales = dict(session.execute(select(Sale.store_id, func.count())
                                 .group_by(Sale.store_id)).all())
    cursors: dict[int, int] = {}
    for store_id, seq in session.execute(select(IngestCursor.store_id, IngestCursor.seq)
                                         .order_by(IngestCursor.updated_at)):
        cursors[store_id] = seq  # the most recently used epoch wins
    for store in stores:
        status = statuses.get(store.id)
        yield _sample("tessera_sales_ingested_total", sales.get(store.id, 0), store=store.code)
        yield _sample("tessera_store_ingested_seq", cursors.get(store.id, 0), store=store.code)
        if status is None:
            continue
        yield _sample("tessera_store_online", int(status.online), store=store.code)
        if status.last_seen is not None:
            age = (now - status.last_seen).total_seconds()
            yield _sample("tessera_store_last_seen_age_seconds", round(age, 3),
                          store=store.code)
        if status.outbox_pending is not None:
            yield _sample("tessera_store_outbox_pending", status.outbox_pending,
                          store=store.code)
        applied = json.loads(status.streams or "{}")
        group = store.group.code if store.group else None
        for stream, head in heads.items():
            _bucket, scope = parse_stream(stream)
            if (scope.kind == "all" or (scope.kind == "store" and scope.ref == store.code)
                    or (scope.kind == "group" and scope.ref == group)):
                yield _sample("tessera_store_sync_lag_versions",
                              max(head - int(applied.get(stream, 0)), 0),
                              store=store.code, stream=stream)
    yield _sample("tessera_parked_entries_total",
                  session.scalar(select(func.count()).select_from(ParkedEntry)) or 0)
    yield _sample("tessera_sale_drift_total",
                  session.scalar(select(func.count()).select_from(SaleDrift)) or 0)
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
