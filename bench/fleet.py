"""A simulated fleet: worker processes, each hosting many real ``store_agent`` Agents.

Every store is a real ``store_agent.runtime.Agent`` (its own SQLite file, MQTT link,
uplink and replica threads; no POS HTTP server) built from ``TESSERA_*`` settings like
``tessera agent run``. A few processes share the stores so that one GIL does not cap the
fleet; the parent drives them over pipes.

The only instrumentation is a thin wrapper around each replica's ``apply`` (it records
when each stream version was reached) and around each uplink's ``step`` (it counts entries
sent, to see resends); the wrapped code runs unchanged.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import multiprocessing
import os
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from protocol.encoding import dumps
from store_agent.sync import outbox

COMMAND_TIMEOUT = 600.0


class _Probe:
    """Per-agent timings: when each stream version was applied, entries sent upstream."""

    def __init__(self, agent: Any) -> None:
        self.reached: dict[str, list[tuple[int, float]]] = {}
        self.sent = 0
        self.resent = 0
        self.high = 0  # highest seq ever sent: what goes out at or below it is a resend
        apply: Callable[[dict[str, Any]], Any] = agent.sync.replica.apply
        step: Callable[[], int] = agent.uplink.step

        def timed_apply(message: dict[str, Any]) -> Any:
            result = apply(message)
            if result.applied:
                self.reached.setdefault(result.stream, []).append((result.version, time.time()))
            return result

        def counted_step() -> int:
            high = self.high
            sent = step()
            self.high = max(high, agent.uplink.sent_upto)
            self.sent += sent
            # A step sends a contiguous run ending at sent_upto: above the old high is new.
            self.resent += max(0, sent - max(0, agent.uplink.sent_upto - high))
            return sent

        agent.sync.replica.apply = timed_apply
        agent.uplink.step = counted_step

    def first_reach(self, stream: str, version: int) -> float | None:
        for reached, at in self.reached.get(stream, []):
            if reached >= version:
                return at
        return None


def agent_env(code: str, broker_url: str, workdir: Path) -> dict[str, str]:
    """The settings ``tessera agent run`` would get for store ``code`` (no POS server)."""
    return {"TESSERA_STORE_CODE": code, "TESSERA_BROKER_URL": broker_url,
            "TESSERA_AGENT_DB": str(workdir / f"agent-{code}.db"),
            "TESSERA_AGENT_CONFIG": str(workdir / "no-such-agent.env"),
            "TESSERA_VAR_DIR": str(workdir), "TESSERA_POS_LISTEN": "127.0.0.1:1",
            "TESSERA_LOG_LEVEL": "WARNING"}


def _prefill(agent: Any, code: str, skus: list[str], count: int) -> int:
    """Put ``count`` 5-line sales in the store's outbox, as the till would have.

    The first sale goes through the real till (priced from the local copy, committed with
    its outbox entry); the others are copies of it under new UUIDs and receipt numbers,
    written in one transaction so that filling 1,000 sales takes milliseconds.
    """
    from store_agent.pos import till

    now = dt.datetime.now(dt.UTC)
    request = {"uuid": str(uuid.uuid4()), "till": "T1", "cashier": "bench",
               "lines": [{"code": sku, "qty": "1"} for sku in skus]}
    outcome = till.record_sale(agent.store, code, request, now)
    _copies(agent, dict(outcome.sale), count - 1)
    return count


def _copies(agent: Any, template: dict[str, Any], count: int) -> None:
    """``count`` more sales like ``template`` (new UUIDs and numbers) with their outbox
    entries, in one transaction; then wakes the uplink."""
    with agent.store.write() as conn:
        number = int(agent.store.get_meta(conn, "receipt_number") or "0")
        sales: list[tuple[Any, ...]] = []
        entries: list[tuple[str, str, str, dt.datetime]] = []
        created_at = dt.datetime.fromisoformat(template["created_at"])
        for _ in range(count):
            number += 1
            sale = dict(template, uuid=str(uuid.uuid4()), number=number)
            body = dumps(sale).decode()
            sales.append((sale["uuid"], number, f"bench-{sale['uuid']}", body,
                          sale["created_at"]))
            entries.append(("sale", sale["uuid"], body, created_at))
        conn.executemany("INSERT INTO sales (uuid, number, request_hash, result, created_at) "
                         "VALUES (?, ?, ?, ?, ?)", sales)
        outbox.append_many(conn, entries)
        agent.store.set_meta(conn, "receipt_number", str(number))
    agent.uplink.notify()


class _Feeder:
    """Keeps every store's outbox at least ``low`` entries deep, like tills that sell
    faster than central takes: central always has work, so its rate is its capacity."""

    def __init__(self, agents: dict[str, Any], skus: list[str], low: int) -> None:
        self.stopping = threading.Event()
        self.added = 0
        self.templates: dict[str, dict[str, Any]] = {}
        for code, agent in agents.items():
            self.added += _prefill(agent, code, skus, low)
            self.templates[code] = _last_sale(agent)
        self.thread = threading.Thread(target=self._run, args=(agents, low), daemon=True)
        self.thread.start()

    def _run(self, agents: dict[str, Any], low: int) -> None:
        while not self.stopping.wait(0.2):
            for code, agent in agents.items():
                if agent.uplink.pending() < low:
                    _copies(agent, self.templates[code], low)
                    self.added += low

    def stop(self) -> int:
        self.stopping.set()
        self.thread.join(10)
        return self.added


def _last_sale(agent: Any) -> dict[str, Any]:
    with agent.store.read() as conn:
        row = conn.execute("SELECT result FROM sales ORDER BY number DESC LIMIT 1").fetchone()
    sale: dict[str, Any] = json.loads(row[0])
    return sale


def _serve(pipe: Any, codes: list[str], broker_url: str, workdir: str) -> None:
    """Child process: build the agents, then answer the parent's commands until 'exit'."""
    logging.basicConfig(level=logging.ERROR)
    from store_agent import settings as settings_mod
    from store_agent.runtime import Agent

    root = Path(workdir)
    agents: dict[str, Any] = {}
    probes: dict[str, _Probe] = {}
    feeder: list[_Feeder] = []
    for code in codes:
        agent = Agent(settings_mod.load(agent_env(code, broker_url, root)), serve_pos=False)
        agents[code] = agent
        probes[code] = _Probe(agent)
    pipe.send(("ready", os.getpid()))
    while True:
        command, *args = pipe.recv()
        try:
            if command == "exit":
                pipe.send(("ok", None))
                return
            if command == "feed":
                feeder.append(_Feeder(agents, *args))
                answer: Any = feeder[-1].added
            elif command == "unfeed":
                answer = sum(f.stop() for f in feeder)
                feeder.clear()
            else:
                answer = _command(command, args, agents, probes)
            pipe.send(("ok", answer))
        except Exception as exc:  # noqa: BLE001 - reported to the parent, which fails
            pipe.send(("error", f"{type(exc).__name__}: {exc}"))


def _command(command: str, args: list[Any], agents: dict[str, Any],
             probes: dict[str, _Probe]) -> Any:
    if command == "start":
        for agent in agents.values():
            agent.start()
        return len(agents)
    if command == "connected":
        return sum(1 for agent in agents.values() if agent.sync.link.connected)
    if command == "versions":
        stream = args[0]
        return {code: agent.store.stream_versions().get(stream, 0)
                for code, agent in agents.items()}
    if command == "first_reach":
        stream, version = args
        return {code: probe.first_reach(stream, version) for code, probe in probes.items()}
    if command == "outbox":
        return {"pending": sum(agent.uplink.pending() for agent in agents.values()),
                "sent": sum(probe.sent for probe in probes.values()),
                "resent": sum(probe.resent for probe in probes.values())}
    if command == "stall_timeout":
        for agent in agents.values():
            agent.uplink.stall_timeout = float(args[0])
        return len(agents)
    if command == "stop":
        for agent in agents.values():
            agent.stop()
        return len(agents)
    raise ValueError(f"unknown command {command!r}")


class Fleet:
    """The parent's handle on the worker processes."""

    def __init__(self, codes: list[str], broker_url: str, workdir: Path,
                 processes: int) -> None:
        context = multiprocessing.get_context("spawn")
        self.workers: list[tuple[Any, Any]] = []
        self.pids: list[int] = []
        shares = [codes[i::processes] for i in range(processes)]
        for share in (s for s in shares if s):
            ours, theirs = context.Pipe()
            proc = context.Process(target=_serve, args=(theirs, share, broker_url,
                                                        str(workdir)), daemon=True)
            proc.start()
            self.workers.append((proc, ours))
        for _proc, pipe in self.workers:
            if not pipe.poll(COMMAND_TIMEOUT):
                raise RuntimeError("a fleet worker did not start")
            _, pid = pipe.recv()
            self.pids.append(pid)

    def ask(self, command: str, *args: Any) -> list[Any]:
        """Send a command to every worker, then collect every answer."""
        for _, pipe in self.workers:
            pipe.send((command, *args))
        answers = []
        for proc, pipe in self.workers:
            if not pipe.poll(COMMAND_TIMEOUT):
                raise RuntimeError(f"fleet worker {proc.pid} did not answer {command!r}")
            status, value = pipe.recv()
            if status != "ok":
                raise RuntimeError(f"fleet worker {proc.pid}: {command} failed: {value}")
            answers.append(value)
        return answers

    def merged(self, command: str, *args: Any) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for answer in self.ask(command, *args):
            result.update(answer)
        return result

    def close(self) -> None:
        for proc, pipe in self.workers:
            if proc.is_alive():
                try:
                    pipe.send(("stop",))
                    pipe.poll(30) and pipe.recv()
                    pipe.send(("exit",))
                    pipe.poll(10) and pipe.recv()
                except (OSError, EOFError):
                    pass
            proc.join(10)
            if proc.is_alive():
                proc.kill()
                proc.join(5)
