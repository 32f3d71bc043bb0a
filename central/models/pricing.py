"""Prices and discount policies.

Price entries, sales rules, promotions and exclusions, partner programmes and their cards, VIP
cards.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import TYPE_CHECKING

from sqlalchemy import (
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from central.models.base import MONEY, RATE, Base, UTCDateTime, utcnow

if TYPE_CHECKING:
    from central.models.catalog import Product


class PriceEntry(Base):
    """A price for a product at a scope (all stores, a group, a store), from a moment.

    Entries are never edited in place: a new price is a new entry, so that the price in
    force at any past moment can be told.
    """

    __tablename__ = "price_entries"
    __table_args__ = (UniqueConstraint("product_id", "scope", "scope_ref", "effective_from"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"), index=True)
    scope: Mapped[str] = mapped_column(String(8))
    scope_ref: Mapped[str] = mapped_column(String(64), default="")
    price: Mapped[Decimal] = mapped_column(MONEY)
    effective_from: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    product: Mapped[Product] = relationship(lazy="joined")


class Policy(Base):
    """A sales rule, promotion or exclusion; ``definition`` is its JSON body.

    ``version`` grows with every change; the change log keeps every version, so a sale
    priced with version N can be priced again with exactly that version.
    """

    __tablename__ = "policies"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), index=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    version: Mapped[int] = mapped_column(Integer, default=1)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    definition: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class PartnerProgramme(Base):
    """A third party's card scheme giving a fixed % at chosen stores (seeds/004)."""

    __tablename__ = "partner_programmes"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    percent: Mapped[Decimal] = mapped_column(RATE)
    stores: Mapped[str] = mapped_column(Text, default="[]")
    groups: Mapped[str] = mapped_column(Text, default="[]")
    valid_from: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    valid_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    version: Mapped[int] = mapped_column(Integer, default=1)


class PartnerCard(Base):
    """One card number, or a range of numbers, of a partner programme."""

    __tablename__ = "partner_cards"
    __table_args__ = (UniqueConstraint("programme_id", "first", "last"),
                      # a programme's ranges, read by every batch of a member list import
                      Index("ix_partner_cards_ranges", "programme_id",
                            postgresql_where=text("first <> last"),
                            sqlite_where=text("first <> last")))
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    programme_id: Mapped[int] = mapped_column(ForeignKey("partner_programmes.id"), index=True)
    first: Mapped[str] = mapped_column(String(64), index=True)
    last: Mapped[str] = mapped_column(String(64))
    holder: Mapped[str | None] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    programme: Mapped[PartnerProgramme] = relationship(lazy="joined")


class VipCard(Base):
    """A ``#VIP#`` card: a rate and an end date for one customer."""

    __tablename__ = "vip_cards"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    customer: Mapped[str] = mapped_column(String(200))
    percent: Mapped[Decimal] = mapped_column(RATE)
    valid_until: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    notify: Mapped[str | None] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
