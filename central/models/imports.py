"""Imports run in the background (K6): each file's progress and its rejected rows, so that
any request (the REST API, the console's progress bar) reads where it stands."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, Boolean, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from central.models.base import Base, UTCDateTime, utcnow


class ImportJob(Base):
    __tablename__ = "import_jobs"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    kind: Mapped[str] = mapped_column(String(24))
    """``customers`` or ``partner-members``."""
    programme: Mapped[str | None] = mapped_column(String(40))
    filename: Mapped[str] = mapped_column(String(200))
    check_only: Mapped[bool] = mapped_column(Boolean, default=False)
    """Every row checked and counted, nothing written (a preview)."""
    state: Mapped[str] = mapped_column(String(16), default="queued")
    """queued, running, done or failed."""
    columns: Mapped[str] = mapped_column(Text, default="[]")
    """The file's header (JSON): the report's columns after line and reason."""
    rows: Mapped[int] = mapped_column(Integer, default=0)
    accepted: Mapped[int] = mapped_column(Integer, default=0)
    rejected: Mapped[int] = mapped_column(Integer, default=0)
    created: Mapped[int] = mapped_column(Integer, default=0)
    updated: Mapped[int] = mapped_column(Integer, default=0)
    unchanged: Mapped[int] = mapped_column(Integer, default=0)
    bytes_read: Mapped[int] = mapped_column(BigInteger, default=0)
    bytes_total: Mapped[int] = mapped_column(BigInteger, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    author: Mapped[str | None] = mapped_column(String(80))
    runner: Mapped[str | None] = mapped_column(String(80))
    """The process importing it (host:pid): gone before the end, the job is interrupted."""
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class ImportRejection(Base):
    """One rejected row of an import: its line in the file, why, and its cells (JSON)."""

    __tablename__ = "import_rejections"
    job_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    line: Mapped[int] = mapped_column(Integer, primary_key=True)
    reason: Mapped[str] = mapped_column(Text)
    cells: Mapped[str] = mapped_column(Text)
