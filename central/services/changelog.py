"""The change log: every master-data write records its change in the same transaction.

Versions are gap-free per stream and taken by updating the stream head row, whose row lock
(held until commit) orders concurrent writers, so versions commit in order; a sequence would
commit out of order and let the publisher skip rows.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, aliased

from central.models import Change, StreamHead
from protocol.checksum import EMPTY, combine, entry_hash
from protocol.encoding import dumps
from protocol.streams import Scope, stream_name


def _ensure_head(session: Session, stream: str) -> None:
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    session.execute(insert(StreamHead).values(stream=stream, version=0)
                    .on_conflict_do_nothing(index_elements=["stream"]))


def record(session: Session, bucket: str, scope: Scope, entity: str, key: str, op: str,
           data: dict[str, Any] | None) -> Change:
    """Append one change to the stream of ``bucket``/``scope`` and return it."""
    stream = stream_name(bucket, scope)
    bump = (update(StreamHead).where(StreamHead.stream == stream)
            .values(version=StreamHead.version + 1)
            .returning(StreamHead.version, StreamHead.checksum))
    row = session.execute(bump).one_or_none()
    if row is None:
        _ensure_head(session, stream)
        row = session.execute(bump).one()
    version, checksum = row
    text = None if data is None else dumps(data).decode()
    # The entry's previous state (under the head's row lock, so nobody races us).
    previous = session.execute(
        select(Change.op, Change.data).where(Change.stream == stream, Change.entity == entity,
                                             Change.key == key)
        .order_by(Change.version.desc()).limit(1)).one_or_none()
    toggles = []
    if previous is not None and previous.op != "delete":
        toggles.append(entry_hash(entity, key, text=previous.data or "{}"))
    if op != "delete":
        toggles.append(entry_hash(entity, key, text=text or "{}"))
    session.execute(update(StreamHead).where(StreamHead.stream == stream)
                    .values(checksum=combine(checksum or EMPTY, *toggles)))
    change = Change(stream=stream, version=version, entity=entity, key=key, op=op, data=text)
    session.add(change)
    session.flush()
    return change


def record_many(session: Session, bucket: str, scope: Scope,
                entries: Sequence[tuple[str, str, str, dict[str, Any] | None]],
                new: Collection[tuple[str, str]] = ()) -> int:
    """Append many changes ``(entity, key, op, data)`` to one stream, in their order.

    The same versions, entries and checksum as ``record`` called once per entry, in a few
    statements: the head bumped once by their number, every key's previous entry read in
    one query, the changes inserted together (an import's batch of a thousand rows).
    Returns the first version given (0 when there is nothing to record). ``new`` holds
    the (entity, key) pairs the caller knows the stream has never seen (an id it has just
    made, a card with no row yet): their previous entry is not looked for.
    """
    if not entries:
        return 0
    stream = stream_name(bucket, scope)
    bump = (update(StreamHead).where(StreamHead.stream == stream)
            .values(version=StreamHead.version + len(entries))
            .returning(StreamHead.version, StreamHead.checksum))
    row = session.execute(bump).one_or_none()
    if row is None:
        _ensure_head(session, stream)
        row = session.execute(bump).one()
    last, checksum = row
    first = last - len(entries) + 1
    # The previous state of every key (under the head's row lock): every change of the
    # batch's keys, one query per entity and thousand keys on the (stream, entity, key)
    # index, the last one kept. No self-join on max(version): on a freshly filled log its
    # stale statistics made PostgreSQL loop over the join, minutes per batch.
    keys: dict[str, set[str]] = {}
    fresh = set(new)
    for entity, key, _op, _data in entries:
        if (entity, key) not in fresh:
            keys.setdefault(entity, set()).add(key)
    previous: dict[tuple[str, str], tuple[str, str | None]] = {}
    for entity, named in sorted(keys.items()):
        ordered = sorted(named)
        for start in range(0, len(ordered), 1000):
            for key, op, stored in session.execute(
                    select(Change.key, Change.op, Change.data)
                    .where(Change.stream == stream, Change.entity == entity,
                           Change.key.in_(ordered[start:start + 1000]))
                    .order_by(Change.key, Change.version)):
                previous[(entity, key)] = (op, stored)
    toggles: list[int] = []
    rows: list[dict[str, Any]] = []
    for version, (entity, key, op, data) in enumerate(entries, start=first):
        text = None if data is None else dumps(data).decode()
        before = previous.get((entity, key))
        if before is not None and before[0] != "delete":
            toggles.append(entry_hash(entity, key, text=before[1] or "{}"))
        if op != "delete":
            toggles.append(entry_hash(entity, key, text=text or "{}"))
        previous[(entity, key)] = (op, text)
        rows.append({"stream": stream, "version": version, "entity": entity, "key": key,
                     "op": op, "data": text})
    session.execute(update(StreamHead).where(StreamHead.stream == stream)
                    .values(checksum=combine(checksum or EMPTY, *toggles)))
    session.execute(insert(Change), rows)
    return first


def checksums(session: Session) -> dict[str, tuple[int, str]]:
    """(version, checksum) of every stream."""
    return {stream: (version, checksum) for stream, version, checksum in session.execute(
        select(StreamHead.stream, StreamHead.version, StreamHead.checksum))}


def heads(session: Session) -> dict[str, int]:
    """Latest committed version of every stream."""
    return dict(session.execute(select(StreamHead.stream, StreamHead.version)).all())


def read(session: Session, stream: str, after: int, limit: int) -> Sequence[Change]:
    """Changes of ``stream`` after version ``after``, in version order."""
    return session.scalars(select(Change).where(Change.stream == stream, Change.version > after)
                           .order_by(Change.version).limit(limit)).all()


# -- compaction and snapshots -----------------------------------------------------------------

_outer = aliased(Change)

def compacted_to(session: Session) -> dict[str, int]:
    """Per stream, the version up to which the log may have been compacted (0: never)."""
    return dict(session.execute(select(StreamHead.stream, StreamHead.compacted_to)
                                .where(StreamHead.compacted_to > 0)).all())


def compact(session: Session, stream: str, through: int) -> int:
    """Forget the changes of ``stream`` up to version ``through`` that no longer matter:
    those superseded by a later change of the same entity and key, and deletions.

    What remains up to ``through`` is the latest upsert of every live key, which is exactly
    a snapshot. A store at a version below ``through`` can no longer be caught up by replay
    (a deletion it missed is gone): it gets a snapshot. Returns how many changes went.
    """
    head = session.execute(select(StreamHead).where(StreamHead.stream == stream)
                           .with_for_update()).scalar_one_or_none()
    if head is None or through <= head.compacted_to:
        return 0
    through = min(through, head.version)
    later = select(Change.id).where(Change.stream == stream, Change.entity == _outer.entity,
                                    Change.key == _outer.key,
                                    Change.version > _outer.version).exists()
    doomed = select(_outer.id).where(_outer.stream == stream, _outer.version <= through,
                                     (_outer.op == "delete") | later)
    ids = list(session.scalars(doomed))
    for start in range(0, len(ids), 1000):
        session.execute(delete(Change).where(Change.id.in_(ids[start:start + 1000])))
    head.compacted_to = through
    session.flush()
    return len(ids)


def snapshot(session: Session, stream: str) -> tuple[int, str, list[Change]]:
    """The stream's whole state: (version, its checksum, the latest upsert of every live key
    at that version), read after the head so the rows are those of one committed version.
    """
    head = session.execute(select(StreamHead.version, StreamHead.checksum)
                           .where(StreamHead.stream == stream)).one_or_none()
    if head is None:
        return 0, EMPTY, []
    version, checksum = head
    latest = (select(Change.entity, Change.key, func.max(Change.version).label("version"))
              .where(Change.stream == stream, Change.version <= version)
              .group_by(Change.entity, Change.key).subquery())
    rows = session.scalars(
        select(Change).join(latest, (Change.entity == latest.c.entity)
                            & (Change.key == latest.c.key)
                            & (Change.version == latest.c.version))
        .where(Change.stream == stream, Change.op != "delete")
        .order_by(Change.version)).all()
    return version, checksum, list(rows)
