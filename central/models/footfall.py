"""Footfall (SPEC S7): people counters' in/out counts per interval, by store and counter."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from central.models.base import Base, UTCDateTime, utcnow


class FootfallReading(Base):
    """One counter's counts of one interval; recorded once by store, counter and start."""

    __tablename__ = "footfall_readings"
    __table_args__ = (UniqueConstraint("store_id", "counter", "start"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    store_id: Mapped[int] = mapped_column(ForeignKey("stores.id"))
    counter: Mapped[str] = mapped_column(String(64))
    start: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    minutes: Mapped[int] = mapped_column(Integer)
    visits_in: Mapped[int] = mapped_column(Integer)
    visits_out: Mapped[int] = mapped_column(Integer)
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
