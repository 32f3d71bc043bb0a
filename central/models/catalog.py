"""The master catalogue: categories, brands, families, products and their barcodes."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import (
    Boolean,
    ForeignKey,
    Integer,
    Numeric,
    String,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from central.models.base import MONEY, RATE, Base, UTCDateTime, utcnow


class Category(Base):
    __tablename__ = "categories"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("categories.id"))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    parent: Mapped[Category | None] = relationship(remote_side=[id], lazy="joined",
                                                   join_depth=1)


class Brand(Base):
    __tablename__ = "brands"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class Family(Base):
    """A product family (e.g. trousers), used by policies and value instruments."""

    __tablename__ = "families"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class Product(Base):
    __tablename__ = "products"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sku: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    category_id: Mapped[int | None] = mapped_column(ForeignKey("categories.id"), index=True)
    brand_id: Mapped[int | None] = mapped_column(ForeignKey("brands.id"), index=True)
    family_id: Mapped[int | None] = mapped_column(ForeignKey("families.id"), index=True)
    vat_rate: Mapped[Decimal] = mapped_column(RATE)
    purchase_cost: Mapped[Decimal | None] = mapped_column(MONEY)
    sale_price: Mapped[Decimal] = mapped_column(MONEY)
    # Up to five successive supplier discounts in %, space-separated ("10 5"): the cost a
    # points value starts from (SPEC L4); empty: none.
    purchase_discounts: Mapped[str] = mapped_column(String(64), default="", server_default="")
    # A points value fixed by hand, never recomputed (seeds/002 "Controvalore fisso").
    fixed_points: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    # The points one unit earns under a profile that takes them from the product record
    # (SPEC L2, seeds/002 "Punti generati"); None: the product brings none.
    points_generated: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    # piece (sold in whole numbers) or a measure (kg, l, m): rules.pricing.UNITS
    unit: Mapped[str] = mapped_column(String(8), default="piece", server_default="piece")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    category: Mapped[Category | None] = relationship(lazy="joined")
    brand: Mapped[Brand | None] = relationship(lazy="joined")
    family: Mapped[Family | None] = relationship(lazy="joined")
    barcodes: Mapped[list[Barcode]] = relationship(
        back_populates="product", lazy="selectin", cascade="all, delete-orphan",
        order_by="Barcode.code")


class Barcode(Base):
    __tablename__ = "barcodes"
    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    product: Mapped[Product] = relationship(back_populates="barcodes")
