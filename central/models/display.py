"""Display content (SPEC S6): what head office shows on a store's or group's customer
displays beside the basket."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from central.models.base import Base, UTCDateTime, utcnow


class DisplayContent(Base):
    """Items (JSON list of {kind, src, seconds}) for a store or a group (``scope``)."""

    __tablename__ = "display_contents"
    __table_args__ = (UniqueConstraint("scope", "code"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    scope: Mapped[str] = mapped_column(String(8))  # store | group
    code: Mapped[str] = mapped_column(String(64))
    items: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
