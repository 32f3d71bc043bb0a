"""``tessera demo``: the whole network on one machine, on embedded defaults.

A private Mosquitto on 127.0.0.1:18830, central on SQLite under var/demo (PostgreSQL when
TESSERA_DATABASE_URL says so) at http://127.0.0.1:8000, and two stores: kiosk-1 on :8101
and market on :8102, each printing on a Datecs simulator. Every part is a real process; a
part that stops leaves the others running, ``tessera demo stop|start PART`` (another
terminal) stops and starts one, and Ctrl-C stops them all.

``--secure`` runs the broker as deployed (deploy/mosquitto): no anonymous clients, a store
listener binding the client id to the username, central on a listener of its own, and the
password and ACL files written by central; the demo stores are enrolled with one-time codes
by ``tessera agent enroll``, so enrolment, doctor and revocation can be rehearsed.
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
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from tessera import demo_data
from tessera.demo_control import Part, Spec, Supervisor

DEMO_VAT = "A:19,B:9,C:5,D:0"
STORES = ("kiosk-1", "market")


@dataclass(frozen=True)
class Ports:
    """Where the demo listens; ``--base-port`` moves all of them (two demos side by side)."""

    broker: int = 18830
    central_broker: int = 18831  # --secure: central's own listener
    central: int = 8000
    agents: tuple[int, ...] = (8101, 8102)
    printers: tuple[int, ...] = (4991, 4992)
    media: int = 8001  # the promotional pictures of the customer displays

    @classmethod
    def from_base(cls, base: int | None) -> Ports:
        if base is None:
            return cls()
        return cls(base, base + 1, base + 2, (base + 3, base + 4), (base + 5, base + 6),
                   base + 7)

    @property
    def central_url(self) -> str:
        return f"http://127.0.0.1:{self.central}"

    @property
    def media_url(self) -> str:
        return f"http://127.0.0.1:{self.media}"

    def agent(self, code: str) -> int:
        return self.agents[STORES.index(code)]

    def printer(self, code: str) -> int:
        return self.printers[STORES.index(code)]


def find_mosquitto() -> str | None:
    return shutil.which("mosquitto") or next(
        (p for p in ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto") if Path(p).exists()),
        None)


def broker_config(path: Path, port: int) -> None:
    """A loopback-only broker for local runs. Authentication and ACLs: see deploy/."""
    path.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
                    "max_queued_messages 10000\nlog_type error\nlog_type warning\n"
                    "log_dest stderr\n")


def secure_broker_config(path: Path, ports: Ports, auth_dir: Path, pid_file: Path) -> None:
    """The deployed shape (deploy/mosquitto/mosquitto.conf) on loopback ports."""
    # Run as root, Mosquitto drops to user mosquitto, which could not read central's files
    # here: keep root, as the e2e tests do. On a server the files are set up for mosquitto.
    user = "user root\n" if os.geteuid() == 0 else ""
    path.write_text("per_listener_settings false\n"
                    f"listener {ports.broker} 127.0.0.1\nuse_username_as_clientid true\n"
                    f"listener {ports.central_broker} 127.0.0.1\n"
                    "allow_anonymous false\n"
                    f"password_file {auth_dir / 'passwd'}\nacl_file {auth_dir / 'acl'}\n"
                    f"pid_file {pid_file}\n{user}persistence false\n"
                    "max_queued_messages 10000\nlog_type error\nlog_type warning\n"
                    "log_type notice\nlog_dest stderr\n")


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


# How long a part may take to answer after it was started. It is only a backstop against a
# part that hangs: the waits below end as soon as the part answers, and fail at once when one
# of its processes exits. A fixed 15-30 s was too short on a loaded machine (several demos,
# or the test suite's parallel workers, on two cores: central's first answer took longer).
START_SECONDS = 180.0


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def _answering(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2):
            return True
    except (urllib.error.URLError, ConnectionError, OSError):
        return False


def wait_ready(part: Part, probe: Callable[[], bool], timeout: float = START_SECONDS,
               interval: float = 0.2) -> bool:
    """Until ``probe()`` is true; False when a process of ``part`` exited or after
    ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if probe():
            return True
        if part.state != "running":
            return False
        time.sleep(interval)
    return False


def wait_port(part: Part, port: int, timeout: float = START_SECONDS) -> bool:
    return wait_ready(part, lambda: _listening(port), timeout)


def wait_http(part: Part, url: str, timeout: float = START_SECONDS) -> bool:
    return wait_ready(part, lambda: _answering(url), timeout)


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


def load_demo_data(base: str, token: str, media_url: str) -> int:
    """Create the demo master data through the REST API; existing rows are left alone.
    ``media_url``: where the demo's media server serves the promotional pictures."""
    created = 0
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)

    def post(path: str, row: Any) -> None:
        nonlocal created
        status, body = http_json("POST", f"{base}/api/v1/{path}", row, token=token)
        if status == 201:
            created += 1
        elif status != 409:
            raise RuntimeError(f"demo data: POST {path} {row} -> {status} {body}")

    for path, rows in (("store-groups", demo_data.GROUPS), ("stores", demo_data.STORES),
                       ("categories", demo_data.CATEGORIES), ("brands", demo_data.BRANDS),
                       ("products", demo_data.products())):
        for row in rows:
            post(f"{path}/", row)
    for path, row in demo_data.policies(now):
        post(f"{path}/", row)
    # Cards: entries already in the programme are skipped (and reported), not duplicated.
    status, body = http_json("POST", f"{base}/api/v1/partner-programmes/"
                             f"{demo_data.UNION_PROGRAMME['code']}/cards",
                             demo_data.UNION_CARDS, token=token)
    if status != 200:
        raise RuntimeError(f"demo data: union cards -> {status} {body}")
    created += int(body.get("added", 0))
    for price in demo_data.scheduled_prices(now):
        query = f"sku={price['sku']}&scope={price.get('scope', 'all')}"
        if price.get("ref"):
            query += f"&ref={price['ref']}"
        status, body = http_json("GET", f"{base}/api/v1/prices/?{query}", token=token)
        if status == 200 and body:
            continue  # a later run: the entry is there already
        post("prices/", price)
    _head_office_to_tills(base, token, post)
    for row in demo_data.CASHIERS:
        post("cashiers/", row)
    _display_content(base, token, media_url)
    _customers(base, token, post)
    return created


def write_promotions(folder: Path) -> None:
    """The promotional pictures, written at every start (small SVG files made here)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, headline, line, colour in demo_data.PROMOTIONS:
        (folder / name).write_text(demo_data.promotion_svg(headline, line, colour))


def _display_content(base: str, token: str, media_url: str) -> None:
    """The kiosks group's customer displays show the pictures (unless already set: what
    marketing changed in the console stays)."""
    path = f"{base}/api/v1/display-content/group/{demo_data.DISPLAY_GROUP}"
    status, _body = http_json("GET", path, token=token)
    if status == 404:
        status, body = http_json("PUT", path, {"items": demo_data.display_items(media_url)},
                                 token=token)
        if status != 200:
            raise RuntimeError(f"demo data: display content -> {status} {body}")


def _customers(base: str, token: str, post: Any) -> None:
    """The Club profile, the extra question, mandatory fields, alerts and a few members."""
    post("loyalty/profiles/", demo_data.LOYALTY_PROFILE)
    for row in demo_data.CUSTOMER_FIELDS:
        post("customer-fields/", row)
    status, body = http_json("PUT", f"{base}/api/v1/customer-fields/mandatory",
                             {"fields": demo_data.MANDATORY_FIELDS}, token=token)
    if status != 200:
        raise RuntimeError(f"demo data: mandatory customer fields -> {status} {body}")
    for row in demo_data.CUSTOMER_ALERTS:
        post("customer-alerts/", row)
    for row in demo_data.customers():
        post("customers/", row)


def _head_office_to_tills(base: str, token: str, post: Any) -> None:
    """Instructions, the message to the seller and the survey of the demo stores."""
    status, body = http_json("GET", f"{base}/api/v1/instructions/", token=token)
    if status == 200 and not body:  # instructions have no natural key: only once
        for row in demo_data.INSTRUCTIONS:
            post("instructions/", row)
    for question in demo_data.SURVEY_QUESTIONS:
        post("survey-questions/", question)
    for survey_row in demo_data.SURVEYS:
        post("surveys/", survey_row)
    for store, survey in demo_data.SURVEY_OF_STORE.items():
        status, body = http_json("PUT", f"{base}/api/v1/store-surveys/{store}",
                                 {"survey": survey}, token=token)
        if status != 200:
            raise RuntimeError(f"demo data: survey of {store} -> {status} {body}")
    for store, text in demo_data.SELLER_MESSAGES.items():
        status, body = http_json("PUT", f"{base}/api/v1/seller-messages/{store}",
                                 {"text": text}, token=token)
        if status != 200:
            raise RuntimeError(f"demo data: seller message of {store} -> {status} {body}")


def issue_code(base: str, token: str, store: str) -> str:
    status, body = http_json("POST", f"{base}/api/v1/stores/{store}/enrolment-codes",
                             {"ttl_hours": 1}, token=token)
    if status != 201:
        raise RuntimeError(f"enrolment code for {store}: {status} {body}")
    code: str = body["code"]
    return code


def write_env_file(path: Path, env: dict[str, str], header: str) -> None:
    lines = [f"# {header}"] + [f"{k}={v}" for k, v in sorted(env.items())
                                if k.startswith("TESSERA_")]
    write_secret(path, "\n".join(lines))


def run_demo(var_dir: str, fresh: bool, secure: bool = False,
             base_port: int | None = None) -> None:
    root = Path(var_dir).resolve()
    if fresh and root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True, exist_ok=True)
    mosquitto = find_mosquitto()
    if mosquitto is None:
        sys.exit("mosquitto is not installed: run `sudo apt-get install -y mosquitto` "
                 "(or `make demo`, which installs it)")
    ports = Ports.from_base(base_port)
    central = ports.central_url
    tessera = [sys.executable, "-m", "tessera"]
    base_env = {k: v for k, v in os.environ.items() if not k.startswith("TESSERA_")}
    base_env.update(TESSERA_VAR_DIR=str(root), TESSERA_SITE_CONFIG="",
                    TESSERA_BROKER_URL=f"mqtt://127.0.0.1:{ports.broker}",
                    TESSERA_LOG_LEVEL=os.environ.get("TESSERA_LOG_LEVEL", "INFO"))
    central_env = dict(base_env, TESSERA_CENTRAL_LISTEN=f"127.0.0.1:{ports.central}",
                       TESSERA_DATABASE_URL=os.environ.get("TESSERA_DATABASE_URL")
                       or f"sqlite:///{root / 'central.db'}")
    if secure:
        auth_dir, pid_file = root / "broker-auth", root / "mosquitto.pid"
        auth_dir.mkdir(exist_ok=True)
        password_file = root / "central-broker-password"
        if not password_file.exists():
            write_secret(password_file, secrets.token_urlsafe(24))
        central_env.update(
            TESSERA_BROKER_URL=f"mqtt://127.0.0.1:{ports.central_broker}",
            TESSERA_BROKER_USERNAME="central",
            TESSERA_BROKER_PASSWORD=password_file.read_text().strip(),
            TESSERA_BROKER_AUTH_DIR=str(auth_dir), TESSERA_BROKER_PID_FILE=str(pid_file),
            TESSERA_BROKER_PUBLIC_URL=f"mqtt://127.0.0.1:{ports.broker}",
            TESSERA_CENTRAL_PUBLIC_URL=central)
        secure_broker_config(root / "mosquitto.conf", ports, auth_dir, pid_file)
    else:
        broker_config(root / "mosquitto.conf", ports.broker)
    # Head office's console commands (enrolment-code, broker-revoke, ...) read these:
    # `set -a; . var/demo/central.env; set +a`.
    write_env_file(root / "central.env", central_env,
                   "central's settings in this demo (holds central's broker password)")
    sup = Supervisor(root, click.echo)

    def on_term(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt  # SIGTERM stops the demo like Ctrl-C: children too

    signal.signal(signal.SIGTERM, on_term)
    try:
        migrate = subprocess.run([*tessera, "central", "migrate"], env=central_env,
                                 capture_output=True, text=True)
        if migrate.returncode != 0:
            raise RuntimeError(f"migration failed:\n{migrate.stderr}")
        if secure:
            synced = subprocess.run([*tessera, "central", "broker-sync", "--no-reload"],
                                    env=central_env, capture_output=True, text=True)
            if synced.returncode != 0:
                raise RuntimeError(f"broker files not written:\n{synced.stderr}")
        broker = sup.add(Part("broker", [Spec("broker", [mosquitto, "-c",
                                                     str(root / "mosquitto.conf")], base_env)]))
        if not wait_port(broker, ports.broker):
            raise RuntimeError(f"the broker did not start; see {root / 'broker.log'}")
        token_file = provision_admin(central_env, root)
        central_part = sup.add(Part("central", [
            Spec("central", [*tessera, "central", "serve"], central_env),
            Spec("publisher", [*tessera, "central", "publish"], central_env),
            Spec("ingest", [*tessera, "central", "ingest", "--name", "demo"], central_env)]))
        if not wait_http(central_part, f"{central}/healthz"):
            raise RuntimeError(f"central did not answer; see {root / 'central.log'}")
        token = token_file.read_text().strip()
        write_promotions(root / "media")
        media = sup.add(Part("media", [Spec("media", [
            sys.executable, "-m", "http.server", str(ports.media), "--bind", "127.0.0.1",
            "--directory", str(root / "media")], base_env)]))
        if not wait_port(media, ports.media):
            raise RuntimeError(f"the media server did not start; see {root / 'media.log'}")
        created = load_demo_data(central, token, ports.media_url)
        for code in STORES:
            sup.add(Part(f"printer-{code}", [Spec(
                f"printer-{code}", [sys.executable, "-m", "store_agent.fiscal.simulator",
                                    "--state", str(root / f"printer-{code}"),
                                    "--port", str(ports.printer(code)), "--vat", DEMO_VAT],
                base_env)]))
        # A printer or store that does not come up is reported by the watch below (as when
        # it stops later on); the rest of the demo runs all the same.
        for code in STORES:
            wait_port(sup.parts[f"printer-{code}"], ports.printer(code))
        for code in STORES:
            site = {"TESSERA_POS_LISTEN": f"127.0.0.1:{ports.agent(code)}",
                    "TESSERA_PRINTER_URL": f"datecs+tcp://127.0.0.1:{ports.printer(code)}"}
            if secure:
                env = enrolled_store(root, code, site, base_env, central, token, tessera)
            else:
                env = dict(base_env, TESSERA_STORE_CODE=code, TESSERA_CENTRAL_URL=central,
                           **site)
            sup.add(Part(code, [Spec(f"agent-{code}", [*tessera, "agent", "run"], env)]))
        for code in STORES:
            wait_http(sup.parts[code], f"http://127.0.0.1:{ports.agent(code)}/healthz")
        for code, (counter, mean, seed) in demo_data.COUNTERS.items():
            sup.add(Part(f"counter-{code}", [Spec(f"counter-{code}", [
                *tessera, "agent", "counter-sim", "--agent-url",
                f"http://127.0.0.1:{ports.agent(code)}", "--counter", counter,
                "--intervals", "32", "--mean", str(mean), "--seed", str(seed), "--follow"],
                base_env)]))
        sup.ready = True
        sup.save()
        banner(root, ports, created, token_file, secure)
        sup.watch()
    except KeyboardInterrupt:
        click.echo("\nstopping...")
    finally:
        sup.stop_all()


def enrolled_store(root: Path, code: str, site: dict[str, str], base_env: dict[str, str],
                   central: str, token: str, tessera: list[str]) -> dict[str, str]:
    """A demo store set up as a shop PC: its own directory, its site overrides, enrolled
    once with a one-time code by `tessera agent enroll`."""
    home = root / code
    home.mkdir(exist_ok=True)
    (home / "site.env").write_text("".join(f"{k}={v}\n" for k, v in site.items()))
    env = dict(base_env, TESSERA_VAR_DIR=str(home), TESSERA_SITE_CONFIG=str(home / "site.env"))
    if not (home / "agent.env").exists():
        enrolled = subprocess.run([*tessera, "agent", "enroll", "--central", central, "--code",
                                   issue_code(central, token, code), "--timeout", "60"],
                                  env=env, capture_output=True, text=True)
        if enrolled.returncode != 0:
            raise RuntimeError(f"enrolling {code} failed:\n{enrolled.stderr}")
    return env


def banner(root: Path, ports: Ports, created: int, token_file: Path, secure: bool) -> None:
    central = ports.central_url
    click.echo(f"Tessera demo is running ({created} demo records created); logs in {root}")
    click.echo(f"  central      {central}   (REST API under {central}/api/v1, "
               f"API docs {central}/api/docs)")
    click.echo(f"               admin token in {token_file} "
               "(send it as 'Authorization: Bearer <token>')")
    for code in STORES:
        click.echo(f"  {code:<12} http://127.0.0.1:{ports.agent(code)}/pos/v1   (fiscal "
                   f"printer simulator on :{ports.printer(code)}; its receipts: tessera agent "
                   f"printer journal --state {root / f'printer-{code}'})")
    if secure:
        click.echo(f"  broker       mqtt://127.0.0.1:{ports.broker} for stores (per-store "
                   f"logins), :{ports.central_broker} for central")
        click.echo(f"  the stores' settings: {root}/<store>/agent.env (enrolled) and site.env; "
                   f"central's: {root / 'central.env'}")
    else:
        click.echo(f"  broker       mqtt://127.0.0.1:{ports.broker}")
    cashiers = ", ".join(f"{c['code']} (PIN {c['pin']})" for c in demo_data.CASHIERS)
    click.echo(f"  cashiers     at market's browser till http://127.0.0.1:"
               f"{ports.agent('market')}/till/: {cashiers}; kiosk-1 has none")
    click.echo(f"  display      http://127.0.0.1:{ports.agent('kiosk-1')}/display/ shows the "
               f"kiosks' pictures from the media server {ports.media_url} (set at "
               f"{central}/display), cached by the store")
    click.echo(f"  console      {central}/instructions (instructions to the tills, message to "
               f"the seller), {central}/surveys, {central}/footfall (people counters played "
               "by counter-kiosk-1 and counter-market)")
    click.echo("A part that stops leaves the rest running. From another terminal: "
               "tessera demo stop|start broker|central|kiosk-1|market|printer-kiosk-1|"
               "printer-market|media; tessera demo status.")
    click.echo("Ctrl-C stops everything.")
