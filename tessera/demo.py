"""``tessera demo``: the whole network on one machine, on embedded defaults.

A private Mosquitto on 127.0.0.1:18830, central on SQLite under var/demo (PostgreSQL when
TESSERA_DATABASE_URL says so) at http://127.0.0.1:8000, and two stores: kiosk-1 on :8101
and market on :8102. Every part is a real process; Ctrl-C stops them all.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import click

from tessera import demo_data

BROKER_PORT = 18830
CENTRAL = "http://127.0.0.1:8000"
AGENTS = {"kiosk-1": 8101, "market": 8102}
# Each demo store prints on a Datecs fiscal printer simulator (Romanian VAT table).
PRINTERS = {"kiosk-1": 4991, "market": 4992}
DEMO_VAT = "A:19,B:9,C:5,D:0"


def find_mosquitto() -> str | None:
    return shutil.which("mosquitto") or next(
        (p for p in ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto") if Path(p).exists()),
        None)


def broker_config(path: Path, port: int) -> None:
    """A loopback-only broker for local runs. Authentication and ACLs: see deploy/."""
    path.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
                    "max_queued_messages 10000\nlog_type error\nlog_type warning\n"
                    "log_dest stderr\n")


def http_json(method: str, url: str, body: Any = None, timeout: float = 5,
              token: str | None = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def wait_port(port: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.1)
    return False


def wait_http(url: str, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1):
                return True
        except (urllib.error.URLError, ConnectionError, OSError):
            time.sleep(0.2)
    return False


def write_secret(path: Path, text: str) -> None:
    """Write ``text`` to a file only its owner may read (0600, also when it existed)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        os.fchmod(handle.fileno(), 0o600)
        handle.write(text + "\n")


def provision_admin(central_env: dict[str, str], root: Path) -> Path:
    """The demo's ``admin`` user and a fresh token in ``root/admin-token``.

    The first run gives ``admin`` a random password (in ``root/admin-password``); later runs
    keep the user, revoke the previous demo token and write a new one.
    """
    from central import settings
    from central.db import Database
    from central.services import auth

    now = dt.datetime.now(dt.UTC)
    db = Database(settings.load(central_env).database_url)
    try:
        with db.transaction() as session:
            user = auth.find_user(session, "admin")
            if user is None:
                password = secrets.token_urlsafe(18)
                user = auth.create_user(session, "admin", [auth.ADMIN], password, now)
                write_secret(root / "admin-password", password)
            auth.revoke_tokens_named(session, user, "demo", now)
            _, token = auth.create_token(session, user, "demo", now)
    finally:
        db.dispose()
    path = root / "admin-token"
    write_secret(path, token)
    return path


def load_demo_data(base: str, token: str) -> int:
    """Create the demo master data through the REST API; existing rows are left alone."""
    created = 0
    for path, rows in (("store-groups", demo_data.GROUPS), ("stores", demo_data.STORES),
                       ("categories", demo_data.CATEGORIES), ("brands", demo_data.BRANDS),
                       ("products", demo_data.products())):
        for row in rows:
            status, body = http_json("POST", f"{base}/api/v1/{path}/", row, token=token)
            if status == 201:
                created += 1
            elif status != 409:
                raise RuntimeError(f"demo data: POST {path} {row} -> {status} {body}")
    return created


class Network:
    """Starts and stops the demo processes."""

    def __init__(self, var_dir: Path) -> None:
        self.var_dir = var_dir
        self.procs: list[tuple[str, subprocess.Popen[bytes]]] = []

    def spawn(self, name: str, args: list[str], env: dict[str, str]) -> None:
        log = open(self.var_dir / f"{name}.log", "ab")  # noqa: SIM115 - owned by the child
        proc = subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
        self.procs.append((name, proc))

    def check(self) -> None:
        for name, proc in self.procs:
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {proc.returncode}; see "
                                   f"{self.var_dir / (name + '.log')}")

    def stop(self) -> None:
        for _name, proc in reversed(self.procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 10
        for _name, proc in reversed(self.procs):
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()


def run_demo(var_dir: str, fresh: bool) -> None:
    root = Path(var_dir).resolve()
    if fresh and root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True, exist_ok=True)
    mosquitto = find_mosquitto()
    if mosquitto is None:
        sys.exit("mosquitto is not installed: run `sudo apt-get install -y mosquitto` "
                 "(or `make demo`, which installs it)")
    broker_config(root / "mosquitto.conf", BROKER_PORT)
    tessera = [sys.executable, "-m", "tessera"]
    base_env = {k: v for k, v in os.environ.items() if not k.startswith("TESSERA_")}
    base_env.update(TESSERA_VAR_DIR=str(root),
                    TESSERA_BROKER_URL=f"mqtt://127.0.0.1:{BROKER_PORT}",
                    TESSERA_LOG_LEVEL=os.environ.get("TESSERA_LOG_LEVEL", "INFO"))
    central_env = dict(base_env, TESSERA_CENTRAL_LISTEN="127.0.0.1:8000",
                       TESSERA_DATABASE_URL=os.environ.get("TESSERA_DATABASE_URL")
                       or f"sqlite:///{root / 'central.db'}")
    net = Network(root)

    def on_term(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt  # SIGTERM stops the demo like Ctrl-C: children too

    signal.signal(signal.SIGTERM, on_term)
    try:
        net.spawn("broker", [mosquitto, "-c", str(root / "mosquitto.conf")], base_env)
        migrate = subprocess.run([*tessera, "central", "migrate"], env=central_env,
                                 capture_output=True, text=True)
        if migrate.returncode != 0:
            raise RuntimeError(f"migration failed:\n{migrate.stderr}")
        token_file = provision_admin(central_env, root)
        net.spawn("central", [*tessera, "central", "serve"], central_env)
        net.spawn("publisher", [*tessera, "central", "publish"], central_env)
        net.spawn("ingest", [*tessera, "central", "ingest", "--name", "demo"], central_env)
        if not wait_http(f"{CENTRAL}/healthz", 30):
            net.check()
            raise RuntimeError(f"central did not answer; see {root / 'central.log'}")
        created = load_demo_data(CENTRAL, token_file.read_text().strip())
        for code, port in PRINTERS.items():
            net.spawn(f"printer-{code}", [sys.executable, "-m", "store_agent.fiscal.simulator",
                                          "--state", str(root / f"printer-{code}"),
                                          "--port", str(port), "--vat", DEMO_VAT], base_env)
        for port in PRINTERS.values():
            wait_port(port, 15)
        for code, port in AGENTS.items():
            net.spawn(f"agent-{code}", [*tessera, "agent", "run"],
                      dict(base_env, TESSERA_STORE_CODE=code,
                           TESSERA_POS_LISTEN=f"127.0.0.1:{port}",
                           TESSERA_CENTRAL_URL=CENTRAL,
                           TESSERA_PRINTER_URL=f"datecs+tcp://127.0.0.1:{PRINTERS[code]}"))
        for port in AGENTS.values():
            if not wait_http(f"http://127.0.0.1:{port}/healthz", 30):
                net.check()
        click.echo(f"Tessera demo is running ({created} demo records created); logs in {root}")
        click.echo(f"  central      {CENTRAL}/api/v1   (API docs {CENTRAL}/api/docs)")
        click.echo(f"               admin token in {token_file} "
                   "(send it as 'Authorization: Bearer <token>')")
        for code, port in AGENTS.items():
            click.echo(f"  {code:<12} http://127.0.0.1:{port}/pos/v1   (fiscal printer "
                       f"simulator on :{PRINTERS[code]}; its receipts: tessera agent printer "
                       f"journal --state {root / f'printer-{code}'})")
        click.echo(f"  broker       mqtt://127.0.0.1:{BROKER_PORT}")
        click.echo("Ctrl-C stops everything.")
        while True:
            time.sleep(1)
            net.check()
    except KeyboardInterrupt:
        click.echo("\nstopping...")
    finally:
        net.stop()
