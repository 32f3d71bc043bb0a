"""Sales ingested from the stores, their lines, and the drift central found re-pricing them."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import TYPE_CHECKING

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from central.models.base import MONEY, QTY, RATE, Base, UTCDateTime, utcnow

if TYPE_CHECKING:
    from central.models.stores import Store


class Sale(Base):
    __tablename__ = "sales"
    __table_args__ = (UniqueConstraint("store_id", "store_epoch", "seq"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    uuid: Mapped[str] = mapped_column(String(36), unique=True)
    store_id: Mapped[int] = mapped_column(ForeignKey("stores.id"), index=True)
    store_epoch: Mapped[str] = mapped_column(String(64))
    seq: Mapped[int] = mapped_column(BigInteger)
    number: Mapped[int] = mapped_column(Integer)
    till: Mapped[str | None] = mapped_column(String(64))
    cashier: Mapped[str | None] = mapped_column(String(64))
    sold_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    total: Mapped[Decimal] = mapped_column(MONEY)
    body: Mapped[str] = mapped_column(Text)
    repriced: Mapped[bool] = mapped_column(Boolean, default=False)
    # The fiscal receipt, from the store's ``fiscal`` entry that follows the sale.
    fiscal_document: Mapped[int | None] = mapped_column(BigInteger)
    fiscal_receipt: Mapped[int | None] = mapped_column(BigInteger)
    fiscal_device: Mapped[str | None] = mapped_column(String(64))
    fiscalised_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    store: Mapped[Store] = relationship(lazy="joined")
    lines: Mapped[list[SaleLine]] = relationship(
        back_populates="sale", lazy="selectin", cascade="all, delete-orphan",
        order_by="SaleLine.line_no")


class SaleLine(Base):
    __tablename__ = "sale_lines"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sale_id: Mapped[int] = mapped_column(ForeignKey("sales.id"), index=True)
    line_no: Mapped[int] = mapped_column(Integer)
    sku: Mapped[str] = mapped_column(String(64))
    barcode: Mapped[str | None] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    qty: Mapped[Decimal] = mapped_column(QTY)
    unit_price: Mapped[Decimal] = mapped_column(MONEY)
    amount: Mapped[Decimal] = mapped_column(MONEY)
    vat_rate: Mapped[Decimal] = mapped_column(RATE)
    sale: Mapped[Sale] = relationship(back_populates="lines")


class SaleDrift(Base):
    """A sale whose store-side pricing differs from central's re-pricing."""

    __tablename__ = "sale_drifts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sale_id: Mapped[int] = mapped_column(ForeignKey("sales.id"), unique=True)
    store_total: Mapped[Decimal] = mapped_column(MONEY)
    central_total: Mapped[Decimal | None] = mapped_column(MONEY)
    details: Mapped[str] = mapped_column(Text)
    detected_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    sale: Mapped[Sale] = relationship(lazy="joined")


# -- head-office users and API tokens (issue 3) -----------------------------------------------
