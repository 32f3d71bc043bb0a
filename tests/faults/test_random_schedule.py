"""14. A seeded random fault schedule (Jepsen-style) against the whole network.

Tills sell at two stores and head office edits prices the whole time, while a schedule
drawn from a seed breaks one thing after another: connection resets and refusals,
half-open links, delays, dropped, duplicated, late and reordered packets (any topic,
either direction, any process), kill -9 of an agent, one of two ingest workers, the publisher or
the broker, a store away while central compacts its log (it comes back to a snapshot).
Each fault is held for a moment and healed before the next. At the end the invariant must
hold.

``TESSERA_FAULT_SECONDS`` (default 60) or ``TESSERA_FAULT_MINUTES`` sets how long faults
are injected; ``TESSERA_FAULT_SEED`` replays a schedule (the seed is in every failure).
"""

from __future__ import annotations

import os
import random
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from tests.e2e.harness import ROOT, TESSERA, expect
from tests.faults.proxy import BOTH, DOWN, UP
from tests.faults.scenario import FaultNetwork, HeadOffice, Till, confirmed_at_central

pytestmark = [pytest.mark.e2e, pytest.mark.faults]

STORES = ("kiosk-1", "market")
CLIENTS = ("store-kiosk-1", "store-market", "tessera-central-publisher",
           "tessera-central-ingest-a", "tessera-central-ingest-b", "*")
KINDS = ("reset", "refuse", "blackhole", "delay", "drop", "duplicate", "late-duplicate",
         "reorder", "kill-agent", "kill-ingest", "kill-publisher", "kill-broker", "compact")


def fault_seconds() -> float:
    if os.environ.get("TESSERA_FAULT_MINUTES"):
        return float(os.environ["TESSERA_FAULT_MINUTES"]) * 60
    return float(os.environ.get("TESSERA_FAULT_SECONDS", "60"))


@dataclass(frozen=True)
class Step:
    kind: str
    target: str
    hold: float
    direction: str = BOTH
    amount: int = 0

    def __str__(self) -> str:
        extra = f" {self.direction} x{self.amount}" if self.amount else ""
        return f"{self.kind} {self.target}{extra} for {self.hold:.1f}s"


def schedule(rng: random.Random) -> Step:
    """The next fault: its kind, target, direction, size and how long it is held."""
    kind = rng.choice(KINDS)
    hold = round(rng.uniform(0.3, 3.0), 1)
    if kind == "kill-agent":
        return Step(kind, rng.choice(STORES), hold)
    if kind == "compact":
        return Step(kind, rng.choice(CLIENTS[:2]), hold)
    if kind == "kill-ingest":
        return Step(kind, rng.choice(("ingest-a", "ingest-b")), hold)
    if kind.startswith("kill-"):
        return Step(kind, kind[5:], hold)
    target = rng.choice(CLIENTS)
    if kind == "delay":
        return Step(kind, target, hold, rng.choice((UP, DOWN, BOTH)), rng.randint(20, 800))
    if kind in ("drop", "duplicate", "late-duplicate", "reorder"):
        return Step(kind, target, hold, rng.choice((UP, DOWN, BOTH)), rng.randint(1, 6))
    if kind in ("refuse", "blackhole"):
        return Step(kind, rng.choice(CLIENTS[:5]), hold)
    return Step(kind, target, hold)


class Chaos:
    """Applies steps to the network and heals them."""

    def __init__(self, net: FaultNetwork) -> None:
        self.net = net

    def apply(self, step: Step) -> Callable[[], None]:
        """Start the fault; returns what heals it."""
        net, proxy = self.net, self.net.proxy
        if step.kind == "reset":
            proxy.reset(step.target)
        elif step.kind == "refuse":
            proxy.refuse(step.target)
            proxy.reset(step.target)
        elif step.kind == "blackhole":
            proxy.blackhole(step.target)
        elif step.kind == "delay":
            proxy.delay(step.amount, step.target, step.direction)
        elif step.kind == "drop":
            proxy.drop(step.target, step.direction, count=step.amount)
        elif step.kind == "duplicate":
            proxy.duplicate(step.target, step.direction, count=step.amount)
        elif step.kind == "late-duplicate":
            proxy.duplicate(step.target, step.direction, count=step.amount, late_ms=1000)
        elif step.kind == "reorder":
            proxy.reorder(500, step.target, step.direction, count=step.amount)
        elif step.kind == "compact":
            # The store is away while head office edits and compacts the log: it comes
            # back behind the compacted part and needs a snapshot.
            proxy.refuse(step.target)
            proxy.reset(step.target)
            time.sleep(step.hold)
            result = subprocess.run([*TESSERA, "central", "compact", "--keep", "0"],
                                    env=net.central_env, cwd=ROOT, capture_output=True,
                                    text=True, timeout=60)
            assert result.returncode == 0, result.stderr
        elif step.kind == "kill-agent":
            agent = net.agents[step.target]
            agent.kill()
            return lambda: net.restart_agent(agent)
        elif step.kind == "kill-broker":
            net.broker.kill()
            return net.broker.start
        elif step.kind.startswith("kill-"):
            name = step.target
            net.proc(name).kill()
            return net.proc(name).start
        return lambda: proxy.clear("*")


def test_random_fault_schedule(faulty: FaultNetwork) -> None:
    seed = int(os.environ.get("TESSERA_FAULT_SEED") or random.SystemRandom().randrange(10**9))
    rng = random.Random(seed)
    faulty.base_env["TESSERA_BROKER_KEEPALIVE"] = "3"  # central's links too
    faulty.start_central(ingest_workers=("a", "b"))  # sharing stores/+/up
    expect(faulty.central.post("/api/v1/store-groups/", {"code": "north", "name": "North"}),
           201)
    agents = faulty.start_stores(*STORES)
    expect(faulty.central.patch("/api/v1/stores/kiosk-1", {"group": "north"}), 200)
    barcodes = faulty.seed_catalogue(4)
    tills = [Till(agent, barcodes, pause=0.05) for agent in agents]
    # Prices of every scope: the catalogue and "prices" go to bucket topics, the group's
    # and the store's streams to kiosk-1's own topic.
    office = HeadOffice(faulty, ["SKU-1", "SKU-2", "SKU-3", "SKU-4"], pause=0.2,
                        scopes=(("all", None), ("group", "north"), ("store", "kiosk-1"),
                                ("store", "market")))
    for thread in (*tills, office):
        thread.start()

    chaos = Chaos(faulty)
    done: list[str] = []
    deadline = time.monotonic() + fault_seconds()
    try:
        while time.monotonic() < deadline:
            step = schedule(rng)
            done.append(str(step))
            heal = chaos.apply(step)
            time.sleep(step.hold)  # the fault lasts this long, whatever happens meanwhile
            heal()
            time.sleep(rng.uniform(0.0, 1.0))
        edits = office.stop()
        accepted = {till.agent.code: till.stop() for till in tills}
        faulty.proxy.clear("*")
        took = faulty.invariant(timeout=60)
        for code, uuids in accepted.items():
            confirmed_at_central(faulty, code, uuids)
        # Liveness too: whatever births and wills crossed, central sees every store online.
        for code in STORES:
            faulty.wait(lambda c=code: (faulty.store_status(c) or {}).get("online"), 20,
                        f"{code} online at central")
    except AssertionError as exc:
        raise AssertionError(f"TESSERA_FAULT_SEED={seed}; {len(done)} steps:\n  "
                             + "\n  ".join(done) + f"\n{exc}") from exc
    sold = sum(len(a) for a in accepted.values())
    print(f"seed {seed}: {len(done)} faults, {sold} sales, {edits} price edits, "  # noqa: T201
          f"quiet after {took:.1f}s:\n  " + "\n  ".join(done))
    assert sold > 0 and edits > 0
