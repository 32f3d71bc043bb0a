"""Stores, store groups, their live status, broker logins and enrolment codes."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Integer,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from central.models.base import Base, UTCDateTime, utcnow


class StoreGroup(Base):
    __tablename__ = "store_groups"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))


class Store(Base):
    __tablename__ = "stores"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    group_id: Mapped[int | None] = mapped_column(ForeignKey("store_groups.id"))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # IANA zone of the store: receipts and store-local schedules; storage stays UTC.
    time_zone: Mapped[str] = mapped_column(String(64), default="Europe/Rome")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    group: Mapped[StoreGroup | None] = relationship(lazy="joined")


class StoreStatus(Base):
    """What central last heard from a store (birth, death, catch-up requests, batches).

    ``session`` is the store's connection counter: a will older than the last birth is
    stale. ``outbox_head`` is the store's newest outbox seq in ``epoch`` as last reported
    (birth or batch); the backlog is that head minus central's cursor of the epoch.
    """

    __tablename__ = "store_status"
    store_id: Mapped[int] = mapped_column(ForeignKey("stores.id"), primary_key=True)
    online: Mapped[bool] = mapped_column(Boolean, default=False)
    session: Mapped[int] = mapped_column(BigInteger, default=0)
    last_seen: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    agent_version: Mapped[str | None] = mapped_column(String(64))
    epoch: Mapped[str | None] = mapped_column(String(64))
    streams: Mapped[str | None] = mapped_column(Text)
    outbox_pending: Mapped[int | None] = mapped_column(Integer)
    outbox_head: Mapped[int | None] = mapped_column(BigInteger)
    protocol_version: Mapped[int | None] = mapped_column(Integer)
    log_epoch: Mapped[str | None] = mapped_column(String(64))
    changed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # The fiscal printer as the last birth reported it (None: no printer, or an older agent).
    printer_state: Mapped[str | None] = mapped_column(String(16))
    printer_message: Mapped[str | None] = mapped_column(String(500))


class BrokerCredential(Base):
    """A store's own login on the MQTT broker (username = store code).

    ``password_hash`` is in Mosquitto's password-file format (``$7$`` PBKDF2-SHA512), so the
    broker's file is written from this table; the password itself is shown once, at issue.
    """

    __tablename__ = "broker_credentials"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    store_id: Mapped[int] = mapped_column(ForeignKey("stores.id"), unique=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    issued_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    store: Mapped[Store] = relationship(lazy="joined")


class EnrolmentCode(Base):
    """A one-time code that lets a shop PC enrol as a store.

    Only the SHA-256 of the code is kept (the code itself is shown once, at issue); a code
    works until ``expires_at`` and only once (``used_at``).
    """

    __tablename__ = "enrolment_codes"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    store_id: Mapped[int] = mapped_column(ForeignKey("stores.id"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    store: Mapped[Store] = relationship()
