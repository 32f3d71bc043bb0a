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


# --- ports -----------------------------------------------------------------------------------
# A port found free by binding it and closing the socket is only free until someone else takes
# it: another pytest worker asking the kernel for "any port" (bind to 0) may be handed the very
# same one before our broker or server binds it. So every test process reserves a block of its
# own below the kernel's ephemeral range (where neither bind-to-0 nor outgoing connections ever
# land) and hands out ports from that block only. The block is claimed with an exclusive lock on
# a file under the temporary directory, held for the process's life, so the workers of one run
# and of concurrent runs on the same machine never share a block. The kernel's own choice stays
# as the fallback when there is no room below its range or every block is taken.

PORT_BLOCK = 500
PORT_AREA_START = 15000
_port_block: tuple[int, int] | None = None  # (first, next offset) of this process's block
_port_lock: object = None  # the open lock file; kept open, the lock lasts as long


def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768  # Linux's default


def _claim_block() -> tuple[int, int] | None:
    global _port_lock
    import fcntl
    import tempfile

    locks = Path(tempfile.gettempdir()) / "tessera-test-ports"
    locks.mkdir(exist_ok=True)
    for first in range(PORT_AREA_START, _ephemeral_low() - PORT_BLOCK + 1, PORT_BLOCK):
        handle = open(locks / f"{first}.lock", "a")  # noqa: SIM115 - held until exit
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            continue
        _port_lock = handle
        return (first, 0)
    return None


def _bindable(port: int) -> bool:
    # No SO_REUSEADDR: a port with connections still in TIME_WAIT counts as taken too.
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_ports(count: int = 1) -> int:
    """The first of ``count`` consecutive loopback ports, free now and not handed out by any
    other test process (see above); ``free_port`` for one."""
    global _port_block
    if _port_block is None:
        _port_block = _claim_block() or (0, 0)
    first, offset = _port_block
    if first:
        for _ in range(PORT_BLOCK):
            if offset + count > PORT_BLOCK:
                offset = 0  # wrap: ports handed out long ago are checked again below
            start = first + offset
            offset += count
            if all(_bindable(port) for port in range(start, start + count)):
                _port_block = (first, offset)
                return start
    for _ in range(50):  # no block of our own: the kernel's choice, as before
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            start = int(sock.getsockname()[1])
        if start + count <= 65535 and all(_bindable(port)
                                          for port in range(start + 1, start + count)):
            return start
    raise AssertionError(f"no {count} consecutive free ports")


def free_port() -> int:
    return free_ports(1)


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
