"""Building blocks of the fault scenarios: the proxied network, tills selling in the
background, head office editing the catalogue in the background, and the invariant."""

from __future__ import annotations

import threading
import time
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import requests

from tests.e2e.harness import Agent, Http, Network, RestartableBroker, ean13, expect
from tests.faults import invariants
from tests.faults.proxy import FaultProxy

QUIET = 45  # seconds the network may take to heal once the faults stop


class FaultNetwork(Network):
    """The e2e network whose processes all reach the broker through ``proxy``."""

    def __init__(self, workdir: Path, broker: RestartableBroker, proxy: FaultProxy) -> None:
        super().__init__(workdir, broker)
        self.proxy = proxy

    def agent_databases(self) -> dict[str, Path]:
        return {code: agent.database for code, agent in self.agents.items()}

    def add_agent(self, code: str) -> Agent:
        agent = super().add_agent(code)
        # Short keepalive: a half-open link is noticed in seconds, not in 45.
        agent.env["TESSERA_BROKER_KEEPALIVE"] = "3"
        return agent

    def invariant(self, timeout: float = QUIET, same_epochs: bool = True) -> float:
        """Wait until the invariant holds (see invariants.py); seconds it took.

        ``same_epochs``: no store may have moved to a new epoch (only a database restored
        from a backup should; a fault that makes a store fork its history is a bug)."""
        assert self.database_url is not None
        took = invariants.wait_invariant(self.database_url, self.agent_databases(), timeout,
                                         check=self.check)
        if same_epochs:
            for code, path in self.agent_databases().items():
                state = invariants.read_store(code, path)
                assert state.previous_epochs == (), (
                    f"{code} moved to a new epoch without being restored: "
                    f"{state.previous_epochs} -> {state.epoch}")
        return took

    def seed_catalogue(self, count: int) -> list[str]:
        """``count`` products; returns their barcodes once every store sells them all."""
        self.create_category("food")
        barcodes = []
        for i in range(1, count + 1):
            self.create_product(f"SKU-{i}", ean13(i), f"{i}.10", category="food")
            barcodes.append(ean13(i))
        for agent in self.agents.values():
            self.wait(lambda a=agent: a.status()["products"] == count, 30,
                      f"{agent.name} holding the {count} products")
        return barcodes

    def store_status(self, code: str) -> dict[str, Any] | None:
        """Central's liveness row for ``code`` (online, session), straight from the database."""
        assert self.database_url is not None
        url = self.database_url.replace("postgresql+psycopg://", "postgresql://", 1)
        with psycopg.connect(url) as conn:
            row = conn.execute("SELECT ss.online, ss.session, ss.agent_version "
                               "FROM store_status ss JOIN stores s ON s.id = ss.store_id "
                               "WHERE s.code = %s", (code,)).fetchone()
        return None if row is None else {"online": bool(row[0]), "session": int(row[1]),
                                         "agent_version": row[2]}


class Till(threading.Thread):
    """Sells at one agent as fast as it answers (or every ``pause`` s), until stopped.

    A refused or failed request (the agent is down) is retried later; ``accepted`` holds
    the UUIDs the agent confirmed (201), which must all reach central.
    """

    def __init__(self, agent: Agent, barcodes: list[str], limit: int | None = None,
                 pause: float = 0.0) -> None:
        super().__init__(name=f"till-{agent.code}", daemon=True)
        self.agent = agent
        self.barcodes = barcodes
        self.limit = limit
        self.pause = pause
        self.http = Http(agent.url)
        self.accepted: list[str] = []
        self.failures = 0
        self.stopping = threading.Event()

    def run(self) -> None:
        i = 0
        while not self.stopping.is_set() and (self.limit is None or
                                              len(self.accepted) < self.limit):
            sale_uuid = str(uuid.uuid4())
            body = {"uuid": sale_uuid, "lines": [
                {"code": self.barcodes[i % len(self.barcodes)], "qty": str(i % 3 + 1)}]}
            i += 1
            try:
                response = self.http.post("/pos/v1/sales", body, timeout=3)
            except requests.RequestException:
                self.failures += 1
                self.stopping.wait(0.2)
                continue
            if response.status_code == 201:
                self.accepted.append(sale_uuid)
            else:
                self.failures += 1
            if self.pause:
                self.stopping.wait(self.pause)

    def sold(self, at_least: int, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while len(self.accepted) < at_least:
            assert self.is_alive() or len(self.accepted) >= at_least, "till stopped"
            assert time.monotonic() < deadline, (
                f"{self.name}: only {len(self.accepted)} of {at_least} sales accepted")
            time.sleep(0.05)

    def stop(self) -> list[str]:
        self.stopping.set()
        self.join(10)
        self.http.close()
        return self.accepted


class HeadOffice(threading.Thread):
    """Changes prices at central through its REST API, in the background."""

    def __init__(self, net: Network, skus: list[str], pause: float = 0.05,
                 scopes: tuple[tuple[str, str | None], ...] = ()) -> None:
        super().__init__(name="head-office", daemon=True)
        self.scopes = scopes  # (scope, ref) of price entries to add between edits
        self.http = Http(net.central.base)
        self.http.session.headers.update(net.central.session.headers)
        self.skus = skus
        self.pause = pause
        self.edits = 0
        self.failures = 0
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.is_set():
            sku = self.skus[self.edits % len(self.skus)]
            price = Decimal("1.00") + Decimal(self.edits) / 100
            try:
                turn = self.edits % (len(self.scopes) + 1)
                if turn == 0:
                    expect(self.http.patch(f"/api/v1/products/{sku}",
                                           {"sale_price": str(price)}), 200)
                else:
                    scope, ref = self.scopes[turn - 1]
                    expect(self.http.post("/api/v1/prices/", {
                        "sku": sku, "price": str(price), "scope": scope, "ref": ref}), 201)
                self.edits += 1
            except (requests.RequestException, AssertionError):
                self.failures += 1
            self.stopping.wait(self.pause)

    def stop(self) -> int:
        self.stopping.set()
        self.join(10)
        self.http.close()
        return self.edits


def confirmed_at_central(net: FaultNetwork, code: str, accepted: list[str]) -> None:
    """Every sale the till saw confirmed is at central (on top of the invariant)."""
    assert net.database_url is not None
    held = {u for c, u, *_ in invariants.read_central(net.database_url).sales if c == code}
    lost = [u for u in accepted if u not in held]
    assert lost == [], f"{len(lost)} confirmed sales of {code} never reached central"


class Spy:
    """A plain MQTT subscriber straight on the broker (not through the proxy)."""

    def __init__(self, port: int, topic: str) -> None:
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion

        self.messages: list[bytes] = []
        self._subscribed = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2,
                                  client_id=f"spy-{uuid.uuid4().hex[:8]}", protocol=mqtt.MQTTv5)
        self.client.on_connect = lambda c, *_a: c.subscribe(topic, qos=1)
        self.client.on_subscribe = lambda *_a: self._subscribed.set()
        self.client.on_message = lambda _c, _u, msg: self.messages.append(bytes(msg.payload))
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        assert self._subscribed.wait(5), "spy not subscribed"

    def publish(self, topic: str, payload: bytes, retain: bool = False) -> None:
        self.client.publish(topic, payload, qos=1, retain=retain).wait_for_publish(5)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
