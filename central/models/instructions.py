"""Instructions to tills (SPEC S4), who has seen them, and each store's message to the seller."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from central.models.base import Base, UTCDateTime, utcnow
from central.models.cashiers import Cashier
from central.models.stores import Store, StoreGroup


class Instruction(Base):
    """A message from head office to the tills of some stores (or to one cashier)."""

    __tablename__ = "instructions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    text: Mapped[str] = mapped_column(Text)
    scroll: Mapped[bool] = mapped_column(Boolean, default=False)
    valid_from: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    valid_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    cashier_id: Mapped[int | None] = mapped_column(ForeignKey("cashiers.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    cashier: Mapped[Cashier | None] = relationship(lazy="joined")
    stores: Mapped[list[Store]] = relationship(secondary="instruction_stores", lazy="selectin",
                                               order_by="Store.code")
    groups: Mapped[list[StoreGroup]] = relationship(secondary="instruction_groups",
                                                    lazy="selectin", order_by="StoreGroup.code")
    # the stores whose stream carries it (targets resolved when it was last saved)
    sent_to: Mapped[list[Store]] = relationship(secondary="instruction_deliveries",
                                                lazy="selectin", order_by="Store.code",
                                                viewonly=False)


class InstructionStore(Base):
    __tablename__ = "instruction_stores"
    instruction_id: Mapped[int] = mapped_column(
        ForeignKey("instructions.id", ondelete="CASCADE"), primary_key=True)
    store_id: Mapped[int] = mapped_column(ForeignKey("stores.id"), primary_key=True)


class InstructionGroup(Base):
    __tablename__ = "instruction_groups"
    instruction_id: Mapped[int] = mapped_column(
        ForeignKey("instructions.id", ondelete="CASCADE"), primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("store_groups.id"), primary_key=True)


class InstructionDelivery(Base):
    __tablename__ = "instruction_deliveries"
    instruction_id: Mapped[int] = mapped_column(
        ForeignKey("instructions.id", ondelete="CASCADE"), primary_key=True)
    store_id: Mapped[int] = mapped_column(ForeignKey("stores.id"), primary_key=True)


class InstructionSeen(Base):
    """A cashier of a store saw an instruction at the till (upstream kind ``seen``), once.
    ``cashier`` is the code the till signed in ('' at a store without cashiers)."""

    __tablename__ = "instruction_seen"
    __table_args__ = (UniqueConstraint("instruction_id", "store_id", "cashier"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    instruction_id: Mapped[int] = mapped_column(
        ForeignKey("instructions.id", ondelete="CASCADE"), index=True)
    store_id: Mapped[int] = mapped_column(ForeignKey("stores.id"))
    cashier: Mapped[str] = mapped_column(String(32))
    seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    store: Mapped[Store] = relationship(lazy="joined")


class SellerMessage(Base):
    """The store's message to the seller: a nudge at the till (e.g. record the customer)."""

    __tablename__ = "seller_messages"
    store_id: Mapped[int] = mapped_column(ForeignKey("stores.id"), primary_key=True)
    text: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
