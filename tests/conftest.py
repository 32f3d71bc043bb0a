"""Shared fixtures: a fresh PostgreSQL database for the session (and SQLite files), private
brokers, and central's app with its clients and tokens."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import settings

from central import migrate
from central.db import Database
from central.models import Base
from tests.support import Broker, api_token, authorize, create_database, drop_database

# No time limit per Hypothesis example: a test asserts what the code does, not how fast (house
# rule; `make bench` measures speed), and on a loaded machine running the suite in parallel an
# example over the default 200 ms deadline would fail a correct test. Every other setting,
# the number of examples first, stays as each test chose it.
settings.register_profile("tessera", deadline=None)
settings.load_profile("tessera")


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
def central_template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The e2e networks' central database, prepared by the CLI once per test process and
    copied for each network (tests/e2e/harness.py CentralTemplate)."""
    from tests.e2e.harness import CentralTemplate

    template = CentralTemplate(tmp_path_factory.mktemp("central-template-cli"))
    yield template
    template.drop()


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
    # One round trip for every table (children first): sixty DELETE statements one by one
    # took 0.3-1.5 s per test on a loaded machine, the same statements as one script 0.01-0.1.
    quote = db.engine.dialect.identifier_preparer.format_table
    script = "; ".join(f"DELETE FROM {quote(table)}"
                       for table in reversed(Base.metadata.sorted_tables)
                       if table.name != "meta")
    with db.engine.begin() as conn:
        conn.exec_driver_sql(script)


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


# --- central's web app (flaskr's app/client fixtures) ----------------------------------------
# A module chooses the database by overriding ``db`` (clean PostgreSQL by default; a module
# may seed it, or take ``central_db`` to run on both) and adds settings by overriding
# ``app_config`` (a CLOCK, a SECRET_KEY...).

@pytest.fixture
def db(clean_pg_db: Database) -> Database:
    return clean_pg_db


@pytest.fixture
def app_config() -> dict[str, Any]:
    return {}


@pytest.fixture
def app(db: Database, app_config: dict[str, Any]) -> Flask:
    from central.app import create_app

    return create_app({"DATABASE": db, "TESTING": True, **app_config})


@pytest.fixture
def token(db: Database) -> str:
    """A bearer token of a new admin user."""
    return api_token(db)


@pytest.fixture
def auth_header(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def anonymous(app: Flask) -> Iterator[FlaskClient]:
    """A client that sends no credentials."""
    with app.test_client() as client:
        yield client


@pytest.fixture
def client(app: Flask, token: str) -> Iterator[FlaskClient]:
    """A client of an admin user."""
    with app.test_client() as client:
        yield authorize(client, token)


@pytest.fixture
def client_for(app: Flask, db: Database) -> Iterator[Callable[..., FlaskClient]]:
    """Clients carrying a token of a new user with the given roles."""
    clients: list[FlaskClient] = []

    def make(*roles: str) -> FlaskClient:
        client = authorize(app.test_client(), api_token(db, *roles))
        clients.append(client)
        return client

    yield make
