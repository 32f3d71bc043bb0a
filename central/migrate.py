"""Schema migrations (Alembic) and the one-time initialisation of a new database."""

from __future__ import annotations

import uuid
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import select

from central.db import Database
from central.models import Meta

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(db: Database) -> None:
    """Bring the schema to the newest revision and make sure the log epoch exists."""
    if db.is_sqlite:
        path = db.url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
    command.upgrade(alembic_config(db.url), "head")
    with db.transaction() as session:
        if session.scalar(select(Meta).where(Meta.key == "log_epoch")) is None:
            session.add(Meta(key="log_epoch", value=uuid.uuid4().hex))


def log_epoch(db: Database) -> str:
    with db.sessions() as session:
        meta = session.get(Meta, "log_epoch")
        if meta is None:
            raise RuntimeError("database not migrated: run `tessera central migrate`")
        return meta.value
