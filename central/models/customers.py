"""The customer registry (K1-K10): customers, their edits, cards, redirects, merges,
head office's extra questions, mandatory fields and alerts, and the sales they made."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import BigInteger, Boolean, Date, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from central.models.base import MONEY, Base, UTCDateTime, utcnow


class Customer(Base):
    """Central's fold of a customer's edits, with the columns the lists filter on."""

    __tablename__ = "customers"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    first_name: Mapped[str | None] = mapped_column(String(80))
    last_name: Mapped[str | None] = mapped_column(String(80))
    email: Mapped[str | None] = mapped_column(String(254), index=True)
    mobile: Mapped[str | None] = mapped_column(String(40), index=True)
    postcode: Mapped[str | None] = mapped_column(String(16))
    city: Mapped[str | None] = mapped_column(String(80))
    country: Mapped[str | None] = mapped_column(String(2))
    birth_date: Mapped[dt.date | None] = mapped_column(Date)
    gender: Mapped[str | None] = mapped_column(String(16))
    home_store: Mapped[str | None] = mapped_column(String(40), index=True)
    consent_email: Mapped[bool | None] = mapped_column(Boolean)
    consent_sms: Mapped[bool | None] = mapped_column(Boolean)
    search_key: Mapped[str] = mapped_column(String(400), default="", index=True)
    profile: Mapped[str | None] = mapped_column(String(40))
    external_id: Mapped[str | None] = mapped_column(String(80), unique=True)
    """The id an imported file gives the customer (matching a re-import to it)."""
    data: Mapped[str] = mapped_column(Text)
    """The ``customer`` entity's wire data (what the stores get)."""
    total_spend: Mapped[Decimal] = mapped_column(MONEY, default=Decimal("0"))
    visits: Mapped[int] = mapped_column(Integer, default=0)
    returns: Mapped[int] = mapped_column(Integer, default=0)
    first_purchase: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_purchase: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    erased_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    erased_stamp: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class CustomerEdit(Base):
    """One edit (rules.customers.history.Edit), kept for good: the customer is their fold."""

    __tablename__ = "customer_edits"
    edit_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    customer_id: Mapped[str] = mapped_column(String(36), index=True)
    """The customer the edit now belongs to (the survivor after a merge)."""
    addressed_to: Mapped[str] = mapped_column(String(36))
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    store: Mapped[str] = mapped_column(String(64))
    changes: Mapped[str] = mapped_column(Text)
    add_cards: Mapped[str] = mapped_column(Text, default="[]")
    retire_cards: Mapped[str] = mapped_column(Text, default="[]")
    redacted: Mapped[str] = mapped_column(Text, default="[]")
    author: Mapped[str | None] = mapped_column(String(80))
    store_epoch: Mapped[str | None] = mapped_column(String(64))
    seq: Mapped[int | None] = mapped_column(BigInteger)
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class CustomerCard(Base):
    __tablename__ = "customer_cards"
    number: Mapped[str] = mapped_column(String(64), primary_key=True)
    customer_id: Mapped[str] = mapped_column(String(36), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class CustomerRedirect(Base):
    __tablename__ = "customer_redirects"
    old: Mapped[str] = mapped_column(String(36), primary_key=True)
    survivor: Mapped[str] = mapped_column(String(36), index=True)


class CustomerMerge(Base):
    """Who merged what, and why (automatic on an identical card, or confirmed)."""

    __tablename__ = "customer_merges"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    survivor: Mapped[str] = mapped_column(String(36), index=True)
    merged: Mapped[str] = mapped_column(String(36))
    by: Mapped[str] = mapped_column(String(80))
    reason: Mapped[str] = mapped_column(String(200))
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The merged customer's points balance moved to the survivor (null: none to move).
    points_moved: Mapped[Decimal | None] = mapped_column(MONEY)


class CustomerSale(Base):
    """A sale (or return) that names a customer: the aggregates are their sum."""

    __tablename__ = "customer_sales"
    sale_uuid: Mapped[str] = mapped_column(String(36), primary_key=True)
    customer_id: Mapped[str] = mapped_column(String(36), index=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    total: Mapped[Decimal] = mapped_column(MONEY)
    kind: Mapped[str] = mapped_column(String(8), default="sale")


class CustomerField(Base):
    """An extra question of the customer form."""

    __tablename__ = "customer_fields"
    code: Mapped[str] = mapped_column(String(40), primary_key=True)
    label: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))
    choices: Mapped[str] = mapped_column(Text, default="[]")
    position: Mapped[int] = mapped_column(Integer, default=0)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class CustomerSetting(Base):
    """Registry-wide settings by key (``mandatory``: the mandatory fields, JSON)."""

    __tablename__ = "customer_settings"
    key: Mapped[str] = mapped_column(String(40), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class CustomerAlert(Base):
    __tablename__ = "customer_alerts"
    code: Mapped[str] = mapped_column(String(40), primary_key=True)
    position: Mapped[int] = mapped_column(Integer)
    condition: Mapped[str] = mapped_column(Text)
    message: Mapped[str] = mapped_column(String(500))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
