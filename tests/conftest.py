"""Session-wide real services: a fresh PostgreSQL database and private brokers."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from central import migrate
from central.db import Database
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
