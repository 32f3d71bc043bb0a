"""Cashiers (SPEC S8): head office defines them, with a PIN and the stores they work at."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from central.models.base import Base, UTCDateTime, utcnow
from central.models.stores import Store


class Cashier(Base):
    """A cashier: signs in at the till with ``code`` and a PIN (kept as an argon2 hash)."""

    __tablename__ = "cashiers"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    pin_hash: Mapped[str] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    stores: Mapped[list[Store]] = relationship(secondary="cashier_stores", lazy="selectin",
                                               order_by="Store.code")


class CashierStore(Base):
    """A store a cashier works at."""

    __tablename__ = "cashier_stores"
    cashier_id: Mapped[int] = mapped_column(ForeignKey("cashiers.id", ondelete="CASCADE"),
                                            primary_key=True)
    store_id: Mapped[int] = mapped_column(ForeignKey("stores.id"), primary_key=True,
                                          index=True)
