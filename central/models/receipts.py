"""Receipt profiles (header, logo, footer, e-mail policy) per chain and per store."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from central.models.base import Base, UTCDateTime, utcnow


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
