"""An INSERT of the database's dialect, so ``on_conflict_do_nothing`` works on both
PostgreSQL (production) and SQLite (the development database)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session


def insert(session: Session, model: Any) -> Any:
    dialect = session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(model)
