"""Liveness of the stores (SPEC N6): what central last heard from each, and how far behind.

The publisher records births, deaths (last wills) and catch-up requests, the ingest
workers record batches. A store is online from its birth until its death; a will whose
session counter is older than the last birth is stale (it can reach central after the new
birth: the broker publishes it only when it notices the old connection is gone) and is
ignored. A birth is always believed: only the store publishes it, on its own connection in
order, so one with a lower counter is a newer life of the store (a reinstalled database, a
clock set back), never a late message; and a forged counter must not make the store's
real births look stale for ever. The lag of a store is, per stream it follows, central's
head version minus the version the store last said it applied (never more than the head);
its backlog is its outbox head minus the seq central acknowledged in its current epoch.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from central.models import IngestCursor, Meta, Store, StoreGroup, StoreStatus
from central.services import changelog
from central.services.catalog import page
from protocol.streams import parse_stream

# A store says something at least every catch-up interval (30 s by default); one that was
# online but said nothing for this long may have died while the broker could not publish
# its will (the broker itself was down then).
SILENT_AFTER = dt.timedelta(minutes=2)


def streams_for(store: Store, all_streams: Iterable[str]) -> list[str]:
    """The streams a store follows: scope all, its group's and its own."""
    result = []
    for stream in all_streams:
        _bucket, scope = parse_stream(stream)
        if (scope.kind == "all" or (scope.kind == "store" and scope.ref == store.code)
                or (scope.kind == "group" and store.group is not None
                    and scope.ref == store.group.code)):
            result.append(stream)
    return result


def _status(session: Session, store: Store) -> StoreStatus:
    """The status row of ``store``, locked for this transaction (created when missing).

    Created with an insert that does nothing on conflict: the publisher (a birth) and an
    ingest worker (a batch) may both see a new store's row missing at once, and the second
    plain INSERT would fail its whole transaction (the batch unacknowledged).
    """
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    session.execute(insert(StoreStatus)
                    .values(store_id=store.id, session=0, online=False)
                    .on_conflict_do_nothing(index_elements=["store_id"]))
    status = session.scalar(select(StoreStatus).where(StoreStatus.store_id == store.id)
                            .with_for_update())
    assert status is not None
    return status


def _store(session: Session, code: str) -> Store | None:
    return session.scalar(select(Store).where(Store.code == code))


def record_state(session: Session, state: dict[str, Any], now: dt.datetime) -> bool:
    """Record a validated birth or death; False when the store is unknown or it is stale."""
    store = _store(session, state["store"])
    if store is None:
        return False
    status = _status(session, store)
    if state["kind"] == "death" and state["session"] < status.session:
        return False  # a stale will of an older connection
    if status.online != state["online"] or status.changed_at is None:
        status.changed_at = now
    status.session = state["session"]
    status.online = state["online"]
    status.last_seen = now
    status.protocol_version = state["v"]
    if state["kind"] == "birth":
        status.agent_version = state.get("agent_version")
        if state.get("epoch") is not None:
            status.epoch = state["epoch"]
        status.log_epoch = state.get("log_epoch")
        status.streams = json.dumps(state.get("streams") or {})
        status.outbox_pending = state.get("outbox_pending")
        status.outbox_head = state.get("outbox_head")
        printer = state.get("printer") or {}
        status.printer_state = printer.get("state")
        status.printer_message = printer.get("message")
    session.flush()
    return True


def record_catch_up(session: Session, request: dict[str, Any], now: dt.datetime) -> bool:
    """A catch-up request says which versions the store holds now (and that it lives).

    Returns True when central holds the store for offline: its birth was lost, and it
    should be asked for another (``rebirth``).
    """
    store = _store(session, request["store"])
    if store is None:
        return False
    status = _status(session, store)
    status.last_seen = now
    status.log_epoch = request.get("log_epoch") or status.log_epoch
    status.streams = json.dumps(request.get("streams") or {})
    if request.get("outbox_head") is not None and request.get("epoch") is not None:
        # The store's epoch and outbox as they stand, every catch-up interval, as in its
        # birth: they replace whatever an earlier birth or batch claimed, so a wrong head or
        # epoch lasts one interval even while the store is idle. An older agent sends
        # neither field and keeps the last birth's or batch's.
        status.epoch = request["epoch"]
        status.outbox_head = request["outbox_head"]
        status.outbox_pending = request.get("outbox_pending")
    session.flush()
    return not status.online


def record_batch(session: Session, store: Store, epoch: str, head: int | None,
                 last_seq: int, now: dt.datetime) -> None:
    """A batch came in: the store lives, and its outbox reaches ``head`` (if it said so).

    The head is the store's latest claim, never a running maximum: one forged or mistaken
    claim lasts only until the store's next batch, birth or catch-up request (which carries
    the store's outbox head every catch-up interval, ``record_catch_up``). It is never below
    the batch's own last entry, which central has in hand.
    """
    status = _status(session, store)
    status.last_seen = now
    if status.epoch is None:
        status.epoch = epoch
    if head is not None and epoch == status.epoch:
        status.outbox_head = max(head, last_seq)
    session.flush()


# -- reading ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class StreamLag:
    stream: str
    applied: int
    head: int

    @property
    def lag(self) -> int:
        return max(0, self.head - self.applied)


@dataclass(frozen=True)
class StoreLiveness:
    """One line of the fleet view."""

    code: str
    name: str
    group: str | None
    active: bool
    online: bool
    last_seen: dt.datetime | None
    changed_at: dt.datetime | None
    session: int | None
    agent_version: str | None
    protocol_version: int | None
    epoch: str | None
    log_epoch: str | None
    outbox_head: int | None
    acked_seq: int | None
    streams: list[StreamLag] = field(default_factory=list)
    state: str = "never"  # online, silent (online but not heard of lately), offline, never
    printer_state: str | None = None  # ok, warning, error, offline, unknown; None: not told
    printer_message: str | None = None

    @property
    def lag(self) -> int:
        return sum(s.lag for s in self.streams)

    @property
    def backlog(self) -> int | None:
        if self.outbox_head is None:
            return None
        return max(0, self.outbox_head - (self.acked_seq or 0))


def _state(status: StoreStatus | None, now: dt.datetime) -> str:
    if status is None or status.last_seen is None:
        return "never"
    if not status.online:
        return "offline"
    return "silent" if now - status.last_seen > SILENT_AFTER else "online"


def _liveness(store: Store, status: StoreStatus | None, acked: int | None,
              heads: dict[str, int], log_epoch: str, now: dt.datetime) -> StoreLiveness:
    applied: dict[str, int] = {}
    if status is not None and status.streams:
        applied = {str(k): int(v) for k, v in json.loads(status.streams).items()}
    if status is not None and status.log_epoch not in (None, log_epoch):
        applied = {}  # versions of another history of the log count for nothing
    # A store cannot have applied a version central has not made: its claim is bounded.
    streams = [StreamLag(stream, min(applied.get(stream, 0), heads[stream]), heads[stream])
               for stream in sorted(streams_for(store, heads))]
    return StoreLiveness(
        code=store.code, name=store.name, group=store.group.code if store.group else None,
        active=store.active, online=bool(status and status.online),
        last_seen=status.last_seen if status else None,
        changed_at=status.changed_at if status else None,
        session=status.session if status else None,
        agent_version=status.agent_version if status else None,
        protocol_version=status.protocol_version if status else None,
        epoch=status.epoch if status else None,
        log_epoch=status.log_epoch if status else None,
        outbox_head=status.outbox_head if status else None,
        acked_seq=acked, streams=streams, state=_state(status, now),
        printer_state=status.printer_state if status else None,
        printer_message=status.printer_message if status else None)


def fleet(session: Session, page_no: int = 1, size: int | None = None,
          online: bool | None = None,
          now: dt.datetime | None = None,
          group: str | None = None,
          store_code: str | None = None) -> tuple[list[StoreLiveness], int]:
    """Every store (by code) with its liveness, lag and backlog; a page of them if ``size``;
    only the stores of ``group`` (a group code), or only the store ``store_code``, if given."""
    now = now or dt.datetime.now(dt.UTC)
    meta = session.get(Meta, "log_epoch")
    log_epoch = meta.value if meta is not None else ""
    query = select(Store).outerjoin(StoreStatus, StoreStatus.store_id == Store.id)
    if online is not None:
        query = query.where(StoreStatus.online.is_(True) if online
                            else StoreStatus.online.is_not(True))
    if group is not None:
        query = query.join(StoreGroup, Store.group_id == StoreGroup.id) \
            .where(StoreGroup.code == group)
    if store_code is not None:
        query = query.where(Store.code == store_code)
    query = query.order_by(Store.code)
    if size is None:
        stores = list(session.scalars(query).unique().all())
        total = len(stores)
    else:
        stores, total = page(session, query, page_no, size)
    ids = [s.id for s in stores]
    statuses = {s.store_id: s for s in session.scalars(
        select(StoreStatus).where(StoreStatus.store_id.in_(ids)))}
    cursors = {(c.store_id, c.epoch): c.seq for c in session.scalars(
        select(IngestCursor).where(IngestCursor.store_id.in_(ids)))}
    heads = changelog.heads(session)
    result = []
    for store in stores:
        status = statuses.get(store.id)
        acked = None
        if status is not None and status.epoch is not None:
            acked = cursors.get((store.id, status.epoch), 0)
        result.append(_liveness(store, status, acked, heads, log_epoch, now))
    return result, total
