"""A process harness for the end-to-end tests: the real network, one process per part.

Every part runs as ``python -m tessera ...`` (like ``tessera demo``) in its own session, with
its log under the test's ``tmp_path``. Central gets a database of its own per test. Parts can
be stopped (SIGTERM), killed (SIGKILL) and started again with the same settings; whatever
still runs at teardown is killed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterable
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import requests

from rules.barcodes import ean_check_digit
from tests.support import (
    Broker,
    create_database,
    drop_database,
    free_port,
    mosquitto_binary,
    wait_until,
)

ROOT = Path(__file__).resolve().parents[2]
TESSERA = [sys.executable, "-m", "tessera"]
HTTP_TIMEOUT = 5.0
# How long the tests wait for a change or a sale to cross the network (restarts included).
# Every wait polls its condition and ends as soon as it holds, so this is only how long a
# failing test takes to say so: generous, because on a loaded machine (the suite's parallel
# workers on two cores, other jobs beside it) a crossing that takes a second when idle has
# taken tens of seconds, and a short deadline made a correct test fail.
SYNC = 120
LOG_TAIL_LINES = 60


def ean13(n: int) -> str:
    """A valid EAN-13 in the in-store range 200..., distinct for each ``n``."""
    body = f"200{n:09d}"
    return body + str(ean_check_digit(body))


class RestartableBroker(Broker):
    """``tests.support.Broker`` whose start() closes the parent's copy of the log file.

    The base class leaves it open, which ``filterwarnings = error`` turns into a
    ResourceWarning failure. Same port and config file on every start.
    """

    @property
    def log(self) -> Path:
        return self.workdir / f"mosquitto-{self.port}.log"

    def start(self) -> RestartableBroker:
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen([mosquitto_binary(), "-c", str(self.config)],
                                         stdout=log, stderr=subprocess.STDOUT)
        wait_until(self._listening, 10, what=f"mosquitto on port {self.port}")
        return self


def create_token(env: dict[str, str], username: str, *roles: str) -> str:
    """A token-only user made with the CLI (as an operator would); returns its token."""
    roles_args = [arg for role in roles for arg in ("--role", role)]
    for args in (["create-user", username, *roles_args, "--no-password"],
                 ["create-token", username, "--name", "e2e"]):
        result = subprocess.run([*TESSERA, "central", *args], env=env, cwd=ROOT,
                                capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, (f"tessera central {args[0]} failed:\n"
                                        f"{result.stdout}\n{result.stderr}")
    return result.stdout.strip()


def migrate_with_admin(env: dict[str, str]) -> str:
    """``tessera central migrate`` on the (empty) database of ``env``, then an admin user
    ``e2e-admin`` with a token; returns the token."""
    result = subprocess.run([*TESSERA, "central", "migrate"], env=env, cwd=ROOT,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, f"migration failed:\n{result.stdout}\n{result.stderr}"
    return create_token(env, "e2e-admin", "admin")


class CentralTemplate:
    """A central database prepared once per test process as every network's used to be
    (``tessera central migrate``, then the admin token from the CLI), copied by PostgreSQL
    (CREATE DATABASE ... TEMPLATE) for each network: three CLI runs and some thirty Alembic
    revisions per test were most of an e2e test's set-up. Each copy gets a log epoch of its
    own, as a database migrated on its own would; the rest is what the CLI left."""

    def __init__(self, workdir: Path) -> None:
        self.url = create_database("tessera_e2e_template")
        env = {k: v for k, v in os.environ.items() if not k.startswith("TESSERA_")}
        env.update(TESSERA_DATABASE_URL=self.url, TESSERA_VAR_DIR=str(workdir / "var"),
                   XDG_RUNTIME_DIR=str(workdir))
        try:
            self.token = migrate_with_admin(env)
        except BaseException:
            drop_database(self.url)
            raise

    def copy(self) -> str:
        """The URL of a new database like the template, with its own log epoch."""
        url = create_database("tessera_e2e", template=self.url)
        with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://", 1),
                             autocommit=True) as conn:
            conn.execute("UPDATE meta SET value = %s WHERE key = 'log_epoch'",
                         (uuid.uuid4().hex,))
        return url

    def drop(self) -> None:
        drop_database(self.url)


class ProcessDied(AssertionError):
    """A part of the network exited while the test expected it to run."""


class Http:
    """A small JSON client with a timeout on every call."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.session = requests.Session()

    def authorize(self, token: str) -> None:
        """Send ``token`` as a bearer token in every request from now on."""
        self.session.headers["Authorization"] = f"Bearer {token}"

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", HTTP_TIMEOUT)
        return self.session.request(method, self.base + path, **kwargs)

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, body: Any = None, **kwargs: Any) -> requests.Response:
        return self.request("POST", path, json=body, **kwargs)

    def patch(self, path: str, body: Any = None, **kwargs: Any) -> requests.Response:
        return self.request("PATCH", path, json=body, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("DELETE", path, **kwargs)

    def close(self) -> None:
        self.session.close()


def expect(response: requests.Response, *statuses: int) -> Any:
    """The JSON body of ``response``; fails with the body when the status is unexpected."""
    assert response.status_code in statuses, (
        f"{response.request.method} {response.url} -> {response.status_code}: {response.text}")
    return response.json()


class Proc:
    """One long-running part of the network, restartable with the same command and env."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], log: Path) -> None:
        self.name = name
        self.args = args
        self.env = env
        self.log = log
        self.popen: subprocess.Popen[bytes] | None = None
        self.wanted = False

    def start(self) -> Proc:
        assert not self.running, f"{self.name} is already running"
        with open(self.log, "ab") as log:
            log.write(f"===== harness: starting {self.name}\n".encode())
            log.flush()
            # Own session: a kill reaches gunicorn's workers too, and Ctrl-C stays with pytest.
            self.popen = subprocess.Popen(self.args, env=self.env, cwd=ROOT, stdout=log,
                                          stderr=subprocess.STDOUT, start_new_session=True)
        self.wanted = True
        return self

    @property
    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    @property
    def died(self) -> bool:
        return self.wanted and self.popen is not None and self.popen.poll() is not None

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM and wait: the part shuts down the way an operator would stop it."""
        self.wanted = False
        if not self.running:
            return
        assert self.popen is not None
        self.popen.send_signal(signal.SIGTERM)
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"{self.name} ignored SIGTERM for {timeout}s") from None

    def kill(self) -> None:
        """SIGKILL the whole process group (a crash: nothing gets to clean up)."""
        self.wanted = False
        if self.popen is None:
            return
        if self.popen.poll() is None:
            try:
                os.killpg(self.popen.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.popen.wait(10)

    def tail(self, lines: int = LOG_TAIL_LINES) -> str:
        if not self.log.exists():
            return "(no log)"
        text = self.log.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])


class Agent(Proc):
    """A store agent with its own SQLite file and POS port, kept across restarts."""

    def __init__(self, code: str, args: list[str], env: dict[str, str], log: Path,
                 port: int, database: Path) -> None:
        super().__init__(f"agent-{code}", args, env, log)
        self.code = code
        self.port = port
        self.database = database
        self.url = f"http://127.0.0.1:{port}"
        self.http = Http(self.url)

    def status(self) -> dict[str, Any]:
        result: dict[str, Any] = expect(self.http.get("/pos/v1/status"), 200)
        return result

    def product(self, code: str) -> requests.Response:
        return self.http.get(f"/pos/v1/products/{code}")

    def price_of(self, code: str) -> Decimal | None:
        """The price the till sees for ``code``; None when the agent does not sell it."""
        response = self.product(code)
        if response.status_code == 404:
            return None
        return Decimal(expect(response, 200)["sale_price"])

    def sell(self, lines: list[tuple[str, str]], sale_uuid: str | None = None,
             **extra: Any) -> requests.Response:
        body = {"uuid": sale_uuid or str(uuid.uuid4()),
                "lines": [{"code": code, "qty": qty} for code, qty in lines], **extra}
        return self.http.post("/pos/v1/sales", body)

    def ready(self) -> bool:
        response = self.http.get("/healthz", timeout=1)
        return response.status_code == 200 and bool(response.json()["broker_connected"])


class Network:
    """Broker, central (web, publisher, ingest workers) and store agents of one test."""

    def __init__(self, workdir: Path, broker: RestartableBroker) -> None:
        self.workdir = workdir
        self.broker = broker
        self.logs = workdir / "logs"
        self.logs.mkdir(exist_ok=True)
        self.procs: dict[str, Proc] = {}
        self.agents: dict[str, Agent] = {}
        self.database_url: str | None = None
        self.central_port = free_port()
        self.central = Http(f"http://127.0.0.1:{self.central_port}")
        base = {k: v for k, v in os.environ.items() if not k.startswith("TESSERA_")}
        self.base_env = dict(base, PYTHONUNBUFFERED="1", TESSERA_LOG_LEVEL="INFO",
                             TESSERA_BROKER_URL=broker.url,
                             TESSERA_VAR_DIR=str(workdir / "var"))

    # -- central ----------------------------------------------------------------------------

    @property
    def central_env(self) -> dict[str, str]:
        assert self.database_url is not None, "create the database first"
        # XDG_RUNTIME_DIR: gunicorn's control socket goes there instead of ~/.gunicorn.
        return dict(self.base_env, TESSERA_DATABASE_URL=self.database_url,
                    TESSERA_CENTRAL_LISTEN=f"127.0.0.1:{self.central_port}",
                    TESSERA_WEB_WORKERS="1", XDG_RUNTIME_DIR=str(self.workdir))

    def create_database(self, template: CentralTemplate | None = None) -> None:
        """A fresh PostgreSQL database for central, migrated by ``tessera central migrate``
        with an admin token made by the CLI: done here, or copied from ``template``."""
        if template is not None:
            self.database_url = template.copy()
            self.central.authorize(template.token)
            return
        self.database_url = create_database("tessera_e2e")
        self.central.authorize(migrate_with_admin(self.central_env))

    def create_token(self, username: str, *roles: str) -> str:
        """A token-only user made with the CLI (as an operator would); returns its token."""
        return create_token(self.central_env, username, *roles)

    def _proc(self, name: str, args: list[str], env: dict[str, str]) -> Proc:
        if name not in self.procs:
            self.procs[name] = Proc(name, args, env, self.logs / f"{name}.log")
        return self.procs[name]

    def start_central(self, ingest_workers: Iterable[str] = ("a",)) -> None:
        """Web API, publisher and ingest workers; returns once the API answers."""
        self._proc("central", [*TESSERA, "central", "serve"], self.central_env).start()
        self._proc("publisher", [*TESSERA, "central", "publish"], self.central_env).start()
        for name in ingest_workers:
            self.start_ingest(name)
        self.wait(self.central_healthy, SYNC, "central /healthz")

    def start_ingest(self, name: str) -> Proc:
        return self._proc(f"ingest-{name}", [*TESSERA, "central", "ingest", "--name", name],
                          self.central_env).start()

    def central_healthy(self) -> bool:
        return self.central.get("/healthz", timeout=1).status_code == 200

    def proc(self, name: str) -> Proc:
        return self.procs[name]

    # -- stores -----------------------------------------------------------------------------

    def add_agent(self, code: str) -> Agent:
        """Create the store at central (it must exist before its sales can be ingested) and
        prepare its agent; ``start`` it, or use ``start_stores``."""
        expect(self.central.post("/api/v1/stores/", {"code": code, "name": f"Store {code}"}),
               201)
        port = free_port()
        database = self.workdir / f"agent-{code}.db"
        env = dict(self.base_env, TESSERA_STORE_CODE=code, TESSERA_AGENT_DB=str(database),
                   TESSERA_POS_LISTEN=f"127.0.0.1:{port}",
                   TESSERA_CENTRAL_URL=self.central.base,
                   TESSERA_STALL_TIMEOUT="1", TESSERA_CATCH_UP_INTERVAL="2")
        agent = Agent(code, [*TESSERA, "agent", "run"], env, self.logs / f"agent-{code}.log",
                      port, database)
        self.procs[agent.name] = agent
        self.agents[code] = agent
        return agent

    def start_stores(self, *codes: str) -> list[Agent]:
        agents = [self.add_agent(code) for code in codes]
        for agent in agents:
            agent.start()
        for agent in agents:
            self.wait_agent_ready(agent)
        return agents

    def wait_agent_ready(self, agent: Agent, timeout: float = SYNC) -> None:
        self.wait(agent.ready, timeout, f"{agent.name} up and connected to the broker")

    def restart_agent(self, agent: Agent) -> None:
        agent.start()
        self.wait_agent_ready(agent)

    # -- master data ------------------------------------------------------------------------

    def create_category(self, code: str = "food") -> dict[str, Any]:
        result: dict[str, Any] = expect(
            self.central.post("/api/v1/categories/", {"code": code, "name": code.title()}), 201)
        return result

    def create_product(self, sku: str, barcode: str, price: str, category: str | None = None,
                       vat_rate: str = "20") -> dict[str, Any]:
        body = {"sku": sku, "name": f"Product {sku}", "category": category,
                "vat_rate": vat_rate, "sale_price": price, "barcodes": [barcode]}
        result: dict[str, Any] = expect(self.central.post("/api/v1/products/", body), 201)
        return result

    def all_pages(self, path: str, **params: Any) -> list[dict[str, Any]]:
        """Every row of a paginated central listing."""
        rows: list[dict[str, Any]] = []
        page = 1
        while True:
            batch = expect(self.central.get(path, params={**params, "page": page,
                                                          "page_size": 100}), 200)
            rows.extend(batch)
            if len(batch) < 100:
                return rows
            page += 1

    def sales_at_central(self, store: str) -> list[dict[str, Any]]:
        return self.all_pages("/api/v1/sales/", store=store)

    def active_products_at_central(self) -> int:
        return len(self.all_pages("/api/v1/products/", active="true"))

    def wait_outbox_drained(self, agent: Agent, sales: int, timeout: float = SYNC) -> None:
        """Until central acknowledged every outbox entry of ``agent`` (``sales`` of them)."""
        def drained() -> bool:
            status = agent.status()
            return bool(status["outbox_pending"] == 0 and status["outbox_acked"] == sales)
        self.wait(drained, timeout,
                  f"{agent.name}: outbox_pending 0 and outbox_acked {sales}")

    # -- waiting and diagnostics ------------------------------------------------------------

    def check(self) -> None:
        """Fail at once if a part that should run has exited."""
        dead = [p for p in self.procs.values() if p.died]
        if dead:
            raise ProcessDied("; ".join(f"{p.name} exited unexpectedly with "
                                        f"{p.popen.returncode if p.popen else None}"
                                        for p in dead))

    def wait(self, predicate: Callable[[], object], timeout: float, what: str) -> object:
        """``wait_until`` that gives up early when a part of the network died."""
        dead = object()

        def poll() -> object:
            if any(p.died for p in self.procs.values()):
                return dead
            return predicate()

        result = wait_until(poll, timeout, interval=0.1, what=what)
        self.check()
        return result

    def log_tails(self) -> str:
        parts = []
        for proc in self.procs.values():
            state = ("running" if proc.running else
                     f"exited {proc.popen.returncode}" if proc.popen else "never started")
            parts.append(f"----- {proc.name} ({state}): {proc.log}\n{proc.tail()}")
        broker_log = self.broker.log
        if broker_log.exists():
            tail = "\n".join(broker_log.read_text(errors="replace").splitlines()
                             [-LOG_TAIL_LINES:])
            parts.append(f"----- broker: {broker_log}\n{tail}")
        return "\n".join(parts)

    def close(self) -> None:
        """Kill whatever still runs, close clients, drop the database."""
        problems = []
        for proc in reversed(list(self.procs.values())):
            try:
                proc.kill()
            except Exception as exc:  # noqa: BLE001 - kill the others all the same
                problems.append(f"{proc.name}: {exc!r}")
        self.central.close()
        for agent in self.agents.values():
            agent.http.close()
        if self.database_url is not None:
            drop_database(self.database_url)
        assert not problems, f"could not stop: {problems}"
