"""The bench's world: a private Mosquitto with the production limits, a fresh PostgreSQL
database, central's publisher and ingest workers as real ``tessera central`` processes,
and /proc readings (CPU per process group, RSS) to say what limits a figure."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from central import migrate
from central.db import Database
from tests.support import Broker, create_database, drop_database, wait_until

ROOT = Path(__file__).resolve().parents[1]
DEPLOY_BROKER_CONF = ROOT / "deploy" / "mosquitto" / "mosquitto.conf"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def production_limits() -> str:
    """The ``max_*`` lines of the deployed broker config, so queues drop where prod drops."""
    if not DEPLOY_BROKER_CONF.exists():
        return ""
    lines = [line.strip() for line in DEPLOY_BROKER_CONF.read_text().splitlines()
             if line.strip().startswith(("max_", "set_tcp_nodelay"))]
    return "\n".join(lines) + "\n"


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of ``pid`` so far (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def rss_mb(pid: int) -> float:
    """Resident set size of ``pid`` in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def pids_named(name: str) -> list[int]:
    """Every process whose command name is ``name`` (e.g. the PostgreSQL backends)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == name:
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def machine_busy() -> tuple[float, float]:
    """(busy, total) jiffies of the whole machine, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


@dataclass
class CpuMeter:
    """CPU used per group of processes over a window, in % of one core."""

    groups: dict[str, Callable[[], Iterable[int]]]
    start: float = 0.0
    before: dict[str, dict[int, float]] = field(default_factory=dict)
    machine: tuple[float, float] = (0.0, 0.0)

    def __enter__(self) -> CpuMeter:
        self.start = time.monotonic()
        self.before = {name: {pid: cpu_seconds(pid) for pid in pids()}
                       for name, pids in self.groups.items()}
        self.machine = machine_busy()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.elapsed = time.monotonic() - self.start
        self.result: dict[str, float] = {}
        for name, pids in self.groups.items():
            used = 0.0
            for pid in pids():
                used += cpu_seconds(pid) - self.before[name].get(pid, 0.0)
            self.result[name] = round(100 * used / max(self.elapsed, 1e-6), 1)
        busy, total = machine_busy()
        cores = os.cpu_count() or 1
        self.result["machine (all users)"] = round(
            100 * cores * (busy - self.machine[0]) / max(total - self.machine[1], 1), 1)


class Proc:
    """A ``python -m tessera ...`` child with its log in the work directory."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], log: Path) -> None:
        self.name = name
        with open(log, "ab") as out:
            self.popen = subprocess.Popen([sys.executable, "-m", "tessera", *args], env=env,
                                          cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                                          start_new_session=True)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def stop(self, timeout: float = 10.0) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(10)


class World:
    """Broker + database + central's bridge processes of one bench run."""

    def __init__(self, workdir: Path, ingest_workers: int = 2) -> None:
        self.workdir = workdir
        self.logs = workdir / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.ingest_workers = ingest_workers
        self.broker = Broker(workdir, extra_config=production_limits())
        self.database_url = ""
        self.db: Database | None = None
        self.procs: dict[str, Proc] = {}

    # -- lifecycle --------------------------------------------------------------------------

    def __enter__(self) -> World:
        self.broker.start()
        self.database_url = create_database("tessera_bench")
        self.db = Database(self.database_url, pool_size=4)
        migrate.upgrade(self.db)
        return self

    def __exit__(self, *_exc: object) -> None:
        for proc in self.procs.values():
            proc.stop()
        if self.db is not None:
            self.db.dispose()
        if self.database_url:
            drop_database(self.database_url)
        self.broker.stop()

    @property
    def broker_url(self) -> str:
        return self.broker.url

    @property
    def pg_url(self) -> str:
        """The database as a plain libpq URL (for psycopg)."""
        return self.database_url.replace("postgresql+psycopg://", "postgresql://", 1)

    def env(self) -> dict[str, str]:
        base = {k: v for k, v in os.environ.items() if not k.startswith("TESSERA_")}
        return dict(base, PYTHONUNBUFFERED="1", TESSERA_LOG_LEVEL="WARNING",
                    TESSERA_BROKER_URL=self.broker_url, TESSERA_DATABASE_URL=self.database_url,
                    TESSERA_VAR_DIR=str(self.workdir / "var"))

    def start_central(self) -> None:
        """``tessera central publish`` and N ``tessera central ingest`` workers."""
        env = self.env()
        self.procs["publisher"] = Proc("publisher", ["central", "publish"], env,
                                       self.logs / "publisher.log")
        for i in range(self.ingest_workers):
            name = f"ingest-{i}"
            self.procs[name] = Proc(name, ["central", "ingest", "--name", str(i)], env,
                                    self.logs / f"{name}.log")


    def stop_ingest(self) -> None:
        for name in [n for n in self.procs if n.startswith("ingest")]:
            self.procs.pop(name).stop()

    def central_online(self) -> bool:
        """True while every central process runs; raises when one has exited."""
        dead = [p.name for p in self.procs.values() if not p.alive()]
        if dead:
            raise RuntimeError(f"central process(es) exited: {dead}; see {self.logs}")
        return True

    def pids(self, prefix: str) -> list[int]:
        return [p.pid for name, p in self.procs.items() if name.startswith(prefix)]

    # -- database reads ---------------------------------------------------------------------

    def scalar(self, query: str, *params: object) -> object:
        with psycopg.connect(self.pg_url, autocommit=True) as conn:
            row = conn.execute(query, params).fetchone()
        return None if row is None else row[0]

    def head(self, stream: str) -> int:
        value = self.scalar("SELECT version FROM stream_heads WHERE stream = %s", stream)
        return int(value or 0)  # type: ignore[call-overload]

    def published(self, stream: str) -> int:
        value = self.scalar("SELECT version FROM publish_cursors WHERE stream = %s", stream)
        return int(value or 0)  # type: ignore[call-overload]

    def wait_published(self, stream: str, timeout: float = 600) -> None:
        """Until the publisher has broadcast every committed change of ``stream``."""
        head = self.head(stream)

        def done() -> bool:
            self.central_online()
            return self.published(stream) >= head
        wait_until(done, timeout, interval=0.2, what=f"publisher cursor of {stream} at {head}")
