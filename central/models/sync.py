"""The change log and what moves it.

Stream heads, changes, the publish and ingest cursors, parked entries and store requests.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    BigInteger,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from central.models.base import Base, UTCDateTime, utcnow


class StreamHead(Base):
    """The latest version of one stream; its row lock orders the stream's changes."""

    __tablename__ = "stream_heads"
    stream: Mapped[str] = mapped_column(String(200), primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger, default=0)
    # Changes up to this version may be gone (superseded ones and deletions were compacted
    # away): a store below it gets a snapshot instead of a replay.
    compacted_to: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    # protocol.checksum of the stream's live entries at ``version`` (16 hex digits).
    checksum: Mapped[str] = mapped_column(String(16), default="0" * 16,
                                          server_default="0" * 16)


class Change(Base):
    """The transactional outbox of central: one row per change, gap-free per stream."""

    __tablename__ = "changes"
    __table_args__ = (UniqueConstraint("stream", "version"),
                      Index("ix_changes_entity_key", "stream", "entity", "key", "version"))
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"),
                                    primary_key=True, autoincrement=True)
    stream: Mapped[str] = mapped_column(String(200))
    version: Mapped[int] = mapped_column(BigInteger)
    entity: Mapped[str] = mapped_column(String(64))
    key: Mapped[str] = mapped_column(String(200))
    op: Mapped[str] = mapped_column(String(16))
    data: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class PublishCursor(Base):
    """How far the publisher has sent each stream to the broker."""

    __tablename__ = "publish_cursors"
    stream: Mapped[str] = mapped_column(String(200), primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger, default=0)


class IngestCursor(Base):
    """Highest contiguous upstream seq committed for one store epoch."""

    __tablename__ = "ingest_cursors"
    store_id: Mapped[int] = mapped_column(ForeignKey("stores.id"), primary_key=True)
    epoch: Mapped[str] = mapped_column(String(64), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, default=0)
    # The entry id (sale UUID) at ``seq``: the ack carries it so that a store restored
    # from a backup can tell that central's seq N is not its own seq N (new epoch).
    last_id: Mapped[str | None] = mapped_column(String(64))
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class ParkedEntry(Base):
    """An upstream message or entry central could not apply: kept, never thrown away."""

    __tablename__ = "parked_entries"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    topic: Mapped[str] = mapped_column(String(300))
    store_code: Mapped[str | None] = mapped_column(String(64))
    seq: Mapped[int | None] = mapped_column(BigInteger)
    reason: Mapped[str] = mapped_column(Text)
    payload: Mapped[str] = mapped_column(Text)
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class StoreRequest(Base):
    """A store's request to central over MQTT and the reply it got: a repeated request id
    is answered with this reply, and its handler is not run again."""

    __tablename__ = "store_requests"
    __table_args__ = (UniqueConstraint("store_id", "request_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    store_id: Mapped[int] = mapped_column(ForeignKey("stores.id"))
    request_id: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(32))
    reply: Mapped[str | None] = mapped_column(Text)
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)
