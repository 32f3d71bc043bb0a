"""SQLAlchemy models of central. Migrations live in central/migrations (Alembic)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

MONEY = Numeric(14, 2)
RATE = Numeric(5, 2)
QTY = Numeric(12, 3)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Aware UTC datetimes on every database (SQLite forgets the zone otherwise)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: object) -> dt.datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime refused: use UTC-aware datetimes")
        return None if value is None else value.astimezone(dt.UTC)

    def process_result_value(self, value: dt.datetime | None,
                             dialect: object) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Base(DeclarativeBase):
    pass


class Meta(Base):
    """Key/value facts about this database (the change-log epoch)."""

    __tablename__ = "meta"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


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


class Family(Base):
    """A product family (e.g. trousers), used by policies and value instruments."""

    __tablename__ = "families"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True)


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
    __table_args__ = (UniqueConstraint("programme_id", "first", "last"),)
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

class User(Base):
    """A head-office user: roles decide what it may do; the password is an argon2 hash."""

    __tablename__ = "users"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    # None: no password login (a script's account, used with API tokens only).
    password_hash: Mapped[str | None] = mapped_column(String(255))
    # Role names separated by spaces, sorted ("admin pricing"); see central.services.auth.
    roles: Mapped[str] = mapped_column(String(255), default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class ApiToken(Base):
    """A bearer token of a user. Only the SHA-256 of the token is kept; the prefix is shown
    in listings so that people can tell their tokens apart."""

    __tablename__ = "api_tokens"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    token_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    user: Mapped[User] = relationship(lazy="joined")


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


class ReceiptProfile(Base):
    """How receipts look and are e-mailed (SPEC S3): the chain's default (``scope`` =
    ``default``) and per-store overrides (``scope`` = the store code) whose unset fields
    (None) inherit the default's."""

    __tablename__ = "receipt_profiles"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    scope: Mapped[str] = mapped_column(String(64), unique=True)
    store_id: Mapped[int | None] = mapped_column(ForeignKey("stores.id"), unique=True)
    # Lines separated by "\n"; None inherits.
    header: Mapped[str | None] = mapped_column(Text)
    footer: Mapped[str | None] = mapped_column(Text)
    logo_png: Mapped[bytes | None] = mapped_column(LargeBinary)
    email_policy: Mapped[str | None] = mapped_column(String(16))
    email_sender: Mapped[str | None] = mapped_column(String(255))
    email_subject: Mapped[str | None] = mapped_column(String(255))
    email_body: Mapped[str | None] = mapped_column(Text)
    # Space-separated document types ("sale refund"); None inherits.
    email_document_types: Mapped[str | None] = mapped_column(String(100))
    version: Mapped[int] = mapped_column(Integer, default=1)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
