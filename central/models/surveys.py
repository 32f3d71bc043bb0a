"""In-store surveys (SPEC S5): questions with answer choices, surveys as ordered lists of
questions, one survey per store, and the answers the tills collected."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from central.models.base import Base, UTCDateTime, utcnow


class SurveyQuestion(Base):
    """A question and its answer choices (``choices``: JSON list of {code, text})."""

    __tablename__ = "survey_questions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    text: Mapped[str] = mapped_column(String(500))
    choices: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Survey(Base):
    __tablename__ = "surveys"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    items: Mapped[list[SurveyItem]] = relationship(
        lazy="selectin", order_by="SurveyItem.position", cascade="all, delete-orphan")


class SurveyItem(Base):
    """A question at its place in a survey."""

    __tablename__ = "survey_items"
    survey_id: Mapped[int] = mapped_column(ForeignKey("surveys.id", ondelete="CASCADE"),
                                           primary_key=True)
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    question_id: Mapped[int] = mapped_column(ForeignKey("survey_questions.id"))
    question: Mapped[SurveyQuestion] = relationship(lazy="joined")


class SurveyAssignment(Base):
    """The one survey a store's tills ask."""

    __tablename__ = "survey_assignments"
    store_id: Mapped[int] = mapped_column(ForeignKey("stores.id"), primary_key=True)
    survey_id: Mapped[int] = mapped_column(ForeignKey("surveys.id"), index=True)


class SurveyAnswer(Base):
    """One answer given at a till after a sale: recorded once per sale and question."""

    __tablename__ = "survey_answers"
    __table_args__ = (UniqueConstraint("sale_uuid", "question"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    store_id: Mapped[int] = mapped_column(ForeignKey("stores.id"), index=True)
    sale_uuid: Mapped[str] = mapped_column(String(36))
    cashier: Mapped[str | None] = mapped_column(String(32))
    survey: Mapped[str] = mapped_column(String(32))
    question: Mapped[str] = mapped_column(String(32))
    question_text: Mapped[str] = mapped_column(String(500))
    choice: Mapped[str] = mapped_column(String(32))
    choice_text: Mapped[str] = mapped_column(String(200))
    answered_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)
