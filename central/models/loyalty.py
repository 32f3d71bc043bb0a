"""Loyalty (SPEC L1-L5): profiles and their versions, levels, gifts, points values, ledger.

The programme is chain-wide (seeds/000: it belongs to the brand): nothing here has a store
scope. Customers are ``customer_id`` strings (UUIDs): the customers table comes with its own
feature, so the ledger has no foreign key to it yet.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import (
    Boolean,
    ForeignKey,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from central.models.base import RATE, Base, Money, UTCDateTime, utcnow

# Points are kept to the hundredth, exactly on every database (the money type's storage:
# integer hundredths on SQLite, whose NUMERIC would keep a float and let sums drift).
POINTS = Money()
"""Points: whole, or to the hundredth with fractional points."""


class LoyaltyProfileRow(Base):
    """A loyalty profile (rules.cards.LoyaltyProfile); ``accrual`` and ``redemption`` are the
    options as JSON (protocol.loyalty). ``version`` grows with every change; every version
    is kept in :class:`LoyaltyProfileVersion`."""

    __tablename__ = "loyalty_profiles"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    description: Mapped[str] = mapped_column(String(200))
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    card_prefix: Mapped[str] = mapped_column(String(12), unique=True)
    # Space-separated.
    alternative_prefixes: Mapped[str] = mapped_column(String(200), default="")
    ean_prefix: Mapped[str | None] = mapped_column(String(12))
    discount_percent: Mapped[Decimal] = mapped_column(RATE, default=Decimal(0))
    accrual: Mapped[str] = mapped_column(Text)
    redemption: Mapped[str] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer, default=1)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class LoyaltyProfileVersion(Base):
    """Every version of every profile, as its wire data: central recomputes a sale's points
    with the version the store used."""

    __tablename__ = "loyalty_profile_versions"
    __table_args__ = (UniqueConstraint("profile_code", "version"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    profile_code: Mapped[str] = mapped_column(String(32), index=True)
    version: Mapped[int] = mapped_column(Integer)
    data: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class LoyaltyLevel(Base):
    __tablename__ = "loyalty_levels"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    points: Mapped[Decimal] = mapped_column(POINTS, unique=True)


class LoyaltyGift(Base):
    """A product flagged as a gift of a level; ``points`` overrides the level's points."""

    __tablename__ = "loyalty_gifts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sku: Mapped[str] = mapped_column(ForeignKey("products.sku"), unique=True)
    level_id: Mapped[int] = mapped_column(ForeignKey("loyalty_levels.id"), index=True)
    points: Mapped[Decimal | None] = mapped_column(POINTS)


class ProductPointsValue(Base):
    """A product's points value under a profile's redemption options, recomputed when the
    product's cost, discounts or price change (a fixed value is copied, never computed)."""

    __tablename__ = "loyalty_points_values"
    __table_args__ = (UniqueConstraint("profile_code", "sku"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    profile_code: Mapped[str] = mapped_column(String(32), index=True)
    sku: Mapped[str] = mapped_column(String(64), index=True)
    points: Mapped[Decimal] = mapped_column(POINTS)
    basis: Mapped[str] = mapped_column(String(16))
    cost: Mapped[Decimal | None] = mapped_column(Numeric(18, 6))
    markup: Mapped[Decimal | None] = mapped_column(Numeric(18, 4))
    ratio: Mapped[Decimal | None] = mapped_column(POINTS)
    profile_version: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class PointsEntry(Base):
    """One ledger entry, append-only (rules.loyalty.ledger.Entry). The natural key is
    (customer, kind, document, line, of): a replayed sale adds nothing."""

    __tablename__ = "points_entries"
    __table_args__ = (UniqueConstraint("customer_id", "kind", "document", "line", "of_kind",
                                       name="uq_points_entries_natural_key"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[str] = mapped_column(String(36), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    document: Mapped[str] = mapped_column(String(64), index=True)
    line: Mapped[int] = mapped_column(Integer)
    of_kind: Mapped[str] = mapped_column(String(16), default="")
    points: Mapped[Decimal] = mapped_column(POINTS)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    store: Mapped[str | None] = mapped_column(String(64))
    profile_version: Mapped[int | None] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(Text, default="")
    refers_kind: Mapped[str | None] = mapped_column(String(16))
    refers_document: Mapped[str | None] = mapped_column(String(64))
    refers_line: Mapped[int | None] = mapped_column(Integer)
    author: Mapped[str | None] = mapped_column(String(64))
    recorded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class PointsBalance(Base):
    """The kept balance of a customer, updated with every entry in the same transaction;
    ``points_ledger.check_balances`` proves it equals the sum of the entries."""

    __tablename__ = "points_balances"
    customer_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    points: Mapped[Decimal] = mapped_column(POINTS, default=Decimal(0))
    entries: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class PointsDrift(Base):
    """A sale whose loyalty central could not take as the store sent it (SPEC L5).

    ``kind`` "difference": central's points (``central_points``, in the ledger) differ
    from the store's provisional ones (``store_points``, printed on the receipt); never
    overwritten, only shown. ``kind`` "unrecorded": central could not record the sale's
    points at all (unknown profile version, a bad gift line...); ``reason`` says why, the
    sale itself is kept with its body, so nothing is lost.
    """

    __tablename__ = "points_drifts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sale_uuid: Mapped[str] = mapped_column(String(36), unique=True)
    store: Mapped[str] = mapped_column(String(64), index=True)
    customer_id: Mapped[str | None] = mapped_column(String(36), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    profile_code: Mapped[str | None] = mapped_column(String(32))
    profile_version: Mapped[int | None] = mapped_column(Integer)
    store_points: Mapped[Decimal | None] = mapped_column(POINTS)
    central_points: Mapped[Decimal | None] = mapped_column(POINTS)
    reason: Mapped[str] = mapped_column(Text, default="")
    sold_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    detected_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
