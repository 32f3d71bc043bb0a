"""The declarative base, the column types every model uses, and the database's own facts."""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    DateTime,
    Numeric,
    String,
    Text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator


class Money(TypeDecorator[Decimal]):
    """Money, exact on every database: NUMERIC(14, 2) on PostgreSQL; whole cents in an
    INTEGER on SQLite, whose NUMERIC keeps a float (1.10 + 2.20 must not be
    3.3000000000000003 there either). Comparisons, ordering and sums in SQL work on cents
    alike; values bound in a query go through here too. Half a cent rounds away from zero,
    as PostgreSQL does.

    Integer cents are what migration 0015 turned the floats of an older SQLite file into;
    the declared column type (NUMERIC) stays, and stores integers as integers.
    """

    impl = Numeric(14, 2)
    cache_ok = True
    CENT = Decimal("0.01")

    def load_dialect_impl(self, dialect: Any) -> Any:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(BigInteger())
        return dialect.type_descriptor(Numeric(14, 2))

    def process_bind_param(self, value: Any, dialect: Any) -> Any:
        if value is None:
            return None
        if isinstance(value, float):
            raise TypeError("money as a float refused: use Decimal")
        amount = Decimal(value).quantize(self.CENT, rounding=ROUND_HALF_UP)
        if dialect.name == "sqlite":
            return int(amount.scaleb(2))
        return amount

    def process_result_value(self, value: Any, dialect: Any) -> Decimal | None:
        if value is None:
            return None
        if dialect.name == "sqlite":
            return Decimal(int(value)).scaleb(-2).quantize(self.CENT)
        return Decimal(value).quantize(self.CENT)


MONEY = Money()
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
