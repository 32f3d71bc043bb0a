"""Upstream ingest: store batches recorded exactly once, each entry by its kind's handler.

A batch is handled in one transaction under the row lock of the store's ingest cursor
(store, epoch), so two ingest workers never interleave the same store. Entries at or below
the cursor are duplicates; an entry beyond cursor+1 is a gap and is left for the store to
resend. Every entry that continues the cursor goes to the handler registered for its kind;
an entry no handler knows, or whose body its handler cannot read, is parked with the reason
and the cursor moves past it (one bad entry must not block every later sale of the store).

Handlers are called in bulk: all of a batch's entries of one kind in one call (seq order),
kinds in the registry's order. A kind may name entries of kinds registered before it only
(``Handler.after``; a fiscal receipt names its sale), and the registry refuses any other
order, so every entry is handled after every earlier entry it names, and a batch costs a
few statements per kind, not per entry. Kinds that name nothing of each other do not
depend on each other's order.

A handler must be idempotent by entry id across epochs (a store restored from a backup
sends entries again under a new epoch): the cursor makes a replay of the same epoch a no-op
before any handler sees it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from central.models import IngestCursor, ParkedEntry, Store
from central.services import fleet
from protocol.encoding import WireError, dumps

Item = tuple[dict[str, Any], Any]  # (the entry as received, what the handler's read gave)


@dataclass(frozen=True)
class Parked:
    """An entry (or a part of one) that a handler could not record, kept for an operator."""

    seq: int | None
    reason: str
    payload: str


@dataclass
class Recorded:
    """What a handler did with its entries: ``applied`` counts new records (a sale), not
    notes on existing ones (a fiscal receipt); ``duplicates`` entries central already held
    (from another epoch)."""

    applied: int = 0
    duplicates: int = 0
    parked: list[Parked] = field(default_factory=list)


class Handler(Protocol):
    """Records the entries of one upstream kind (``protocol.upstream``)."""

    @property
    def kind(self) -> str: ...

    @property
    def after(self) -> frozenset[str]:
        """Kinds whose earlier entries this kind names: handled before it in a batch."""
        ...

    def read(self, entry: dict[str, Any], store: Store) -> Any:
        """The entry's body validated, without the database; WireError parks the entry."""
        ...

    def record(self, session: Session, store: Store, epoch: str,
               items: list[Item]) -> Recorded:
        """Record the entries (idempotent by entry id), in bulk."""
        ...

    def held(self, session: Session, store: Store, epoch: str,
             seqs: list[int]) -> dict[int, str]:
        """The ids of the entries central holds at ``seqs`` of ``epoch`` (those it keeps a
        seq for): how a resend is told from another history reusing the seqs."""
        ...


class Registry:
    """The handlers of central, one per upstream kind, in the order they are applied."""

    def __init__(self, handlers: Iterable[Handler] = ()) -> None:
        self._handlers: dict[str, Handler] = {}
        for handler in handlers:
            self.register(handler)

    def register(self, handler: Handler) -> None:
        if handler.kind in self._handlers:
            raise ValueError(f"upstream kind {handler.kind!r} has a handler already")
        missing = sorted(handler.after - set(self._handlers))
        if missing:
            raise ValueError(f"the handler of {handler.kind!r} names {', '.join(missing)}, "
                             "which must be registered before it")
        self._handlers[handler.kind] = handler

    def get(self, kind: str) -> Handler | None:
        return self._handlers.get(kind)

    def __iter__(self) -> Any:
        return iter(self._handlers.values())

    def kinds(self) -> list[str]:
        return list(self._handlers)


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


def _forked(session: Session, store: Store, epoch: str, cursor: IngestCursor,
            batch: dict[str, Any], handlers: Registry) -> bool:
    """Whether the batch comes from another history of the epoch than central holds.

    A store restored from a backup numbers new entries with seqs central already holds for
    other entries. A true resend carries the same ids at the same seqs, and a batch that
    starts right after the cursor names, in ``prev``, the entry central holds there.
    """
    first = batch["entries"][0]["seq"]
    prev = batch.get("prev")
    if (first == cursor.seq + 1 and first > 1 and prev is not None
            and cursor.last_id is not None and prev != cursor.last_id):
        return True
    return bool(_reused_seqs(session, store, epoch, cursor, batch["entries"], handlers))


def _reused_seqs(session: Session, store: Store, epoch: str, cursor: IngestCursor,
                 entries: list[dict[str, Any]], handlers: Registry) -> list[int]:
    """Seqs at or below the cursor whose entry is not the one central holds there.

    Seqs whose entry left no seq-keyed record under this epoch (parked, a note on another
    record, a sale known from another epoch) are checked only at the cursor itself (its
    ``last_id``).
    """
    held = {entry["seq"]: entry["id"] for entry in entries if entry["seq"] <= cursor.seq}
    if not held:
        return []
    known: dict[int, str] = {}
    for handler in handlers:
        known.update(handler.held(session, store, epoch, list(held)))
    if cursor.last_id is not None:
        known.setdefault(cursor.seq, cursor.last_id)
    return sorted(seq for seq, entry_id in held.items()
                  if seq in known and known[seq] != entry_id)


def _no_handler(kind: str) -> str:
    return (f"no handler at central for upstream entry kind {kind!r} (sent by a newer "
            "store agent?): kept here until central learns it")


def ingest_batch(session: Session, batch: dict[str, Any], topic: str,
                 handlers: Registry) -> IngestResult:
    """Apply a validated batch; the caller commits and then publishes the acknowledgement."""
    code = batch["store"]
    store = session.scalar(select(Store).where(Store.code == code))
    if store is None:
        raise UnknownStore(code)
    epoch = batch["epoch"]
    cursor = _lock_cursor(session, store, epoch)
    fleet.record_batch(session, store, epoch, batch.get("head"), batch["entries"][-1]["seq"],
                       dt.datetime.now(dt.UTC))
    if _forked(session, store, epoch, cursor, batch, handlers):
        return IngestResult(store=code, epoch=epoch, acked=cursor.seq, applied=0,
                            duplicates=0, gap=False, parked=0, last_id=cursor.last_id,
                            conflict=True)
    # Decide everything in Python first (which entries continue the cursor, which are
    # readable), then write in a few bulk statements per kind: no savepoint per entry.
    duplicates = 0
    gap = False
    by_kind: dict[str, list[Item]] = {}
    parked: list[Parked] = []
    seq, last_id = cursor.seq, cursor.last_id
    for entry in batch["entries"]:
        if entry["seq"] <= seq:
            duplicates += 1
            continue
        if entry["seq"] != seq + 1:
            gap = True
            break
        handler = handlers.get(entry["kind"])
        try:
            if handler is None:
                raise WireError(_no_handler(entry["kind"]))
            by_kind.setdefault(handler.kind, []).append((entry, handler.read(entry, store)))
        except WireError as exc:
            parked.append(Parked(seq=entry["seq"], reason=str(exc),
                                 payload=dumps(entry).decode()))
        seq, last_id = entry["seq"], entry["id"]
    applied = 0
    for handler in handlers:
        items = by_kind.get(handler.kind)
        if items:
            done = handler.record(session, store, epoch, items)
            applied += done.applied
            duplicates += done.duplicates
            parked += done.parked
    session.add_all([ParkedEntry(topic=topic, store_code=code, seq=p.seq, reason=p.reason,
                                 payload=p.payload) for p in parked])
    cursor.seq, cursor.last_id = seq, last_id
    cursor.updated_at = dt.datetime.now(dt.UTC)
    session.flush()
    return IngestResult(store=code, epoch=epoch, acked=cursor.seq, applied=applied,
                        duplicates=duplicates, gap=gap, parked=len(parked),
                        last_id=cursor.last_id)


def park(session: Session, topic: str, store_code: str | None, reason: str,
         payload: bytes) -> None:
    """Keep a message that could not be read at all: its bytes as text, anything that is
    not UTF-8 or that a text column cannot hold (NUL) as backslash escapes."""
    text = payload.decode("utf-8", errors="backslashreplace").replace("\x00", "\\x00")
    session.add(ParkedEntry(topic=topic, store_code=store_code, seq=None,
                            reason=reason.replace("\x00", "\\x00"), payload=text))
