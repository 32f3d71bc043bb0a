"""Session-wide real services: a fresh PostgreSQL database and private brokers."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from central import migrate
from central.db import Database
from central.models import Base
from tests.support import Broker, create_database, drop_database


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A PostgreSQL database created for this test run, migrated, dropped at the end."""
    url = create_database()
    db = Database(url)
    migrate.upgrade(db)
    db.dispose()
    yield url
    drop_database(url)


@pytest.fixture(scope="session")
def pg_db(pg_url: str) -> Iterator[Database]:
    db = Database(pg_url)
    yield db
    db.dispose()


@pytest.fixture
def broker_factory(tmp_path: Path) -> Iterator[Callable[..., Broker]]:
    """Start private brokers on free ports; each is stopped at the end of the test."""
    brokers: list[Broker] = []

    def start(**kwargs: object) -> Broker:
        broker = Broker(tmp_path, **kwargs).start()  # type: ignore[arg-type]
        brokers.append(broker)
        return broker

    yield start
    for broker in brokers:
        broker.kill()


@pytest.fixture
def broker(broker_factory: Callable[..., Broker]) -> Broker:
    return broker_factory()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated central SQLite file, made once and copied by ``sqlite_db``."""
    path = tmp_path_factory.mktemp("central-template") / "central.db"
    db = Database(f"sqlite:///{path}")
    migrate.upgrade(db)
    db.dispose()  # the last connection checkpoints the WAL into the file
    return path


@pytest.fixture
def sqlite_db(tmp_path: Path, sqlite_template: Path) -> Iterator[Database]:
    """A fresh, migrated central database in a SQLite file of this test."""
    path = tmp_path / "central.db"
    for suffix in ("", "-wal"):
        if Path(f"{sqlite_template}{suffix}").exists():
            shutil.copyfile(f"{sqlite_template}{suffix}", f"{path}{suffix}")
    db = Database(f"sqlite:///{path}")
    yield db
    db.dispose()


def _empty(db: Database) -> None:
    with db.engine.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            if table.name != "meta":
                conn.execute(table.delete())


@pytest.fixture
def clean_pg_db(pg_db: Database) -> Iterator[Database]:
    """The session's PostgreSQL database, empty (but for the log epoch) before and after.

    DELETE rather than TRUNCATE: on a few rows it is ten times faster, and nothing in the
    tests depends on identity values starting again at 1.
    """
    _empty(pg_db)
    yield pg_db
    _empty(pg_db)


@pytest.fixture(params=["postgresql", "sqlite"])
def central_db(request: pytest.FixtureRequest) -> Database:
    """A clean central database, once on PostgreSQL and once on SQLite."""
    db: Database = request.getfixturevalue("clean_pg_db" if request.param == "postgresql"
                                           else "sqlite_db")
    return db
