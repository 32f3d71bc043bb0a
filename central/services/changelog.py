"""The change log: every master-data write records its change in the same transaction.

Versions are gap-free per stream and taken by updating the stream head row, whose row lock
(held until commit) orders concurrent writers, so versions commit in order; a sequence would
commit out of order and let the publisher skip rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from central.models import Change, StreamHead
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
            .values(version=StreamHead.version + 1).returning(StreamHead.version))
    version = session.execute(bump).scalar_one_or_none()
    if version is None:
        _ensure_head(session, stream)
        version = session.execute(bump).scalar_one()
    change = Change(stream=stream, version=version, entity=entity, key=key, op=op,
                    data=None if data is None else dumps(data).decode())
    session.add(change)
    session.flush()
    return change


def heads(session: Session) -> dict[str, int]:
    """Latest committed version of every stream."""
    return dict(session.execute(select(StreamHead.stream, StreamHead.version)).all())


def read(session: Session, stream: str, after: int, limit: int) -> Sequence[Change]:
    """Changes of ``stream`` after version ``after``, in version order."""
    return session.scalars(select(Change).where(Change.stream == stream, Change.version > after)
                           .order_by(Change.version).limit(limit)).all()
