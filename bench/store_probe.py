"""One new store against a big catalogue: (c) bootstrap, (d) catch-up, (e) agent RSS/CPU.

The store is a real ``tessera agent run`` process (POS API included, as in a shop) on a
SQLite file on disk. Its birth on the broker marks "connected"; its POS status endpoint
says when the local copy is complete.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import requests
from paho.mqtt.enums import CallbackAPIVersion

from bench import seed
from bench.environment import CpuMeter, Proc, World, cpu_seconds, pids_named, rss_mb
from bench.fleet import agent_env
from protocol import topics
from tests.support import free_port, wait_until

CHUNK = 500  # changes per catch-up message (central.bridge.publisher.CHUNK)


class Births:
    """Arrival times of a store's birth messages, seen by a bare paho client."""

    def __init__(self, host: str, port: int, code: str) -> None:
        self.times: list[float] = []
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-watch-{code}",
                                  protocol=mqtt.MQTTv5)
        ready = threading.Event()
        self.client.on_connect = lambda c, *_a: c.subscribe(topics.store_state(code), qos=1)
        self.client.on_subscribe = lambda *_a: ready.set()
        self.client.on_message = self._on_message
        self.client.connect(host, port)
        self.client.loop_start()
        ready.wait(10)

    def _on_message(self, _c: Any, _u: Any, msg: mqtt.MQTTMessage) -> None:
        if msg.retain or not msg.payload:
            return  # an earlier life's retained state
        if json.loads(msg.payload).get("kind") == "birth":
            self.times.append(time.time())

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


class StoreProbe:
    """The probe store's process and what it reports."""

    def __init__(self, world: World, workdir: Path, code: str = "bench-new") -> None:
        self.world = world
        self.code = code
        self.port = free_port()
        self.database = workdir / f"agent-{code}.db"
        self.env = {**world.env(), **agent_env(code, world.broker_url, workdir),
                    "TESSERA_POS_LISTEN": f"127.0.0.1:{self.port}"}
        self.http = requests.Session()
        self.proc: Proc | None = None

    def status(self) -> dict[str, Any]:
        response = self.http.get(f"http://127.0.0.1:{self.port}/pos/v1/status", timeout=5)
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    def run_until_current(self, stream: str, timeout: float) -> dict[str, Any]:
        """Start the agent; time its birth and the moment ``stream`` reaches central's head."""
        head = self.world.head(stream)
        births = Births("127.0.0.1", self.world.broker.port, self.code)
        try:
            meter = CpuMeter({
                "store agent": lambda: [self.proc.pid] if self.proc else [],
                "publisher": lambda: self.world.pids("publisher"),
                "postgres (all backends)": lambda: pids_named("postgres"),
                "broker": lambda: [self.world.broker.proc.pid] if self.world.broker.proc
                else []}).__enter__()
            spawned = time.time()
            self.proc = Proc(f"agent-{self.code}", ["agent", "run"], self.env,
                             self.world.logs / f"agent-{self.code}.log")

            def current() -> bool:
                if not self.proc or not self.proc.alive():
                    raise RuntimeError(f"agent exited; see {self.world.logs}")
                return int(self.status()["streams"].get(stream, 0)) >= head
            wait_until(current, timeout, interval=0.1, what=f"{self.code} at {stream} v{head}")
            done = time.time()
            meter.__exit__(None, None, None)
        finally:
            births.close()
        connected = births.times[0] if births.times else spawned
        status = self.status()
        return {"seconds_from_connect": round(done - connected, 2),
                "seconds_from_process_start": round(done - spawned, 2),
                "products": status["products"], "version": head,
                "cpu_percent_of_one_core": meter.result}

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop()
            self.proc = None

    def resources(self, idle_seconds: float) -> dict[str, Any]:
        """RSS now and at its peak, and CPU over an idle window."""
        assert self.proc is not None
        pid = self.proc.pid
        time.sleep(1.0)
        before = cpu_seconds(pid)
        time.sleep(idle_seconds)
        used = cpu_seconds(pid) - before
        peak = 0.0
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                peak = int(line.split()[1]) / 1024
        return {"rss_mb": round(rss_mb(pid), 1), "peak_rss_mb": round(peak, 1),
                "idle_cpu_percent": round(100 * used / idle_seconds, 2),
                "idle_window_s": idle_seconds,
                "sqlite_mb": round(sum(p.stat().st_size for p in
                                       self.database.parent.glob(self.database.name + "*"))
                                   / 2**20, 1)}

    def close(self) -> None:
        self.stop()
        self.http.close()


def run(world: World, workdir: Path, products: int, offline_changes: int, idle_seconds: float,
        want: set[str]) -> dict[str, Any]:
    """Seed the catalogue, bootstrap a new store, catch it up, read its resources."""
    assert world.db is not None
    figures: dict[str, Any] = {}
    seeded = seed.big_catalogue(world.db, world.pg_url, first=100_000, count=products)
    seed.create_stores(world.db, ["bench-new"])
    world.wait_published(seed.CATALOG)
    probe = StoreProbe(world, workdir)
    try:
        result = probe.run_until_current(seed.CATALOG, timeout=600)
        result.update(seeded=seeded, customers=None,
                      messages_per_s=round(world.head(seed.CATALOG) / CHUNK
                                           / max(result["seconds_from_connect"], 1e-3), 1))
        figures["bootstrap"] = result
        if "catchup" in want:
            probe.stop()
            sample = [seed.sku(n) for n in range(100_001, 100_001 + min(500, offline_changes))]
            service = seed.service_price_changes(world.db, sample)
            bulk = seed.bulk_price_changes(world.pg_url, 100_001 + len(sample),
                                           offline_changes - service["changes"])
            world.wait_published(seed.CATALOG)
            result = probe.run_until_current(seed.CATALOG, timeout=600)
            result.update(changes=service["changes"] + bulk, service_layer_sample=service,
                          messages_per_s=round((service["changes"] + bulk) / CHUNK
                                               / max(result["seconds_from_connect"], 1e-3), 1))
            figures["catchup"] = result
        if "agent" in want:
            figures["agent"] = dict(probe.resources(idle_seconds), products=products)
    finally:
        probe.close()
    return figures
