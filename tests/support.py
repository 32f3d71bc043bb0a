"""Real-service helpers for the tests: free ports, a private Mosquitto, fresh databases."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import psycopg
from flask.testing import FlaskClient
from psycopg import sql

from central.db import Database

DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/postgres"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(predicate: Callable[[], object], timeout: float = 10.0, interval: float = 0.05,
               what: str = "condition") -> object:
    """Poll until ``predicate`` returns something truthy; fail with ``what`` on timeout."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except Exception as exc:  # noqa: BLE001 - retried until the deadline
            last_error = exc
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}"
                         + (f" (last error: {last_error!r})" if last_error else ""))


def mosquitto_binary() -> str:
    path = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    if not Path(path).exists():
        raise RuntimeError("mosquitto is not installed (scripts/bootstrap.sh installs it)")
    return path


class Broker:
    """A private Mosquitto on a free loopback port; can be stopped, killed and restarted."""

    def __init__(self, workdir: Path, port: int | None = None, extra_config: str = "") -> None:
        self.workdir = workdir
        self.port = port or free_port()
        self.config = workdir / f"mosquitto-{self.port}.conf"
        self.config.write_text(f"listener {self.port} 127.0.0.1\nallow_anonymous true\n"
                               f"persistence false\nlog_dest stderr\n{extra_config}")
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self) -> Broker:
        log = open(self.workdir / f"mosquitto-{self.port}.log", "ab")  # noqa: SIM115
        try:
            self.proc = subprocess.Popen([mosquitto_binary(), "-c", str(self.config)],
                                         stdout=log, stderr=subprocess.STDOUT)
        finally:
            log.close()  # the child holds its own descriptor
        wait_until(self._listening, 10, what=f"mosquitto on port {self.port}")
        return self

    def _listening(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                return True
        except OSError:
            return False

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        self.proc = None

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
        self.proc = None


def admin_url() -> str:
    return os.environ.get("TESSERA_TEST_DATABASE_URL", DEFAULT_PG)


def create_database(prefix: str = "tessera_test", template: str | None = None) -> str:
    """Create a fresh PostgreSQL database and return its SQLAlchemy URL; with ``template``
    (a database URL), a copy of that database, which nobody may be connected to."""
    base = admin_url()
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    create = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
    if template is not None:
        create += sql.SQL(" TEMPLATE {}").format(sql.Identifier(template.rpartition("/")[2]))
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(create)
    head, _, _ = base.rpartition("/")
    return f"{head}/{name}".replace("postgresql://", "postgresql+psycopg://", 1)


def drop_database(url: str) -> None:
    name = url.rpartition("/")[2]
    with psycopg.connect(admin_url(), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
                     .format(sql.Identifier(name)))


def api_token(db: Database, *roles: str, username: str | None = None) -> str:
    """A bearer token of a new password-less user with ``roles`` (admin when none given)."""
    from central.services import auth

    now = dt.datetime.now(dt.UTC)
    with db.transaction() as session:
        user = auth.create_user(session, username or f"test-{uuid.uuid4().hex[:8]}",
                                roles or [auth.ADMIN], None, now)
        _, secret = auth.create_token(session, user, "tests", now)
    return secret


def authorize(client: FlaskClient, token: str) -> FlaskClient:
    """Make a Flask test client send ``token`` on every request; returns the client."""
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    return client
