"""Fleet figures: (a) sustained sale ingest at central and (b) price fan-out latency."""

from __future__ import annotations

import statistics
import time
from decimal import Decimal
from typing import Any

from bench import seed
from bench.environment import CpuMeter, World, pids_named
from bench.fleet import Fleet
from protocol import streams
from protocol.streams import ALL, stream_name
from tests.support import wait_until

PRICES = stream_name(streams.PRICES, ALL)
SALE_LINES = 5
BATCH = 100  # TESSERA_BATCH_SIZE default: entries per upstream message


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(p / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def cpu_groups(world: World, fleet: Fleet) -> dict[str, Any]:
    return {"broker": lambda: [world.broker.proc.pid] if world.broker.proc else [],
            "postgres (all backends)": lambda: pids_named("postgres"),
            "ingest workers": lambda: world.pids("ingest"),
            "publisher": lambda: world.pids("publisher"),
            "store agents": lambda: fleet.pids}


def wait_fleet_current(world: World, fleet: Fleet, stream: str, timeout: float = 120) -> None:
    head = world.head(stream)

    def current() -> bool:
        versions = fleet.merged("versions", stream)
        return all(v >= head for v in versions.values())
    wait_until(current, timeout, interval=0.2, what=f"every store at {stream} v{head}")


def fanout(world: World, fleet: Fleet, skus: list[str], samples: int,
           spacing: float, timeout: float = 30.0) -> dict[str, Any]:
    """Commit a price at central, then time until each store's SQLite has applied it."""
    assert world.db is not None
    latencies: list[float] = []
    worst: list[float] = []
    missed = 0
    with CpuMeter(cpu_groups(world, fleet)) as meter:
        for i in range(samples):
            committed = seed.change_price(world.db, skus[i % len(skus)],
                                          Decimal("5.00") + Decimal(i) / 100)
            version = world.head(PRICES)
            deadline = time.monotonic() + timeout
            while True:
                reached = fleet.merged("first_reach", PRICES, version)
                if all(at is not None for at in reached.values()):
                    break
                if time.monotonic() > deadline:
                    break
                time.sleep(0.05)
            these = [at - committed for at in reached.values() if at is not None]
            missed += sum(1 for at in reached.values() if at is None)
            latencies.extend(these)
            worst.append(max(these) if these else timeout)
            time.sleep(spacing)
    ms = [1000 * v for v in latencies]
    return {"stores": len(fleet.merged("versions", PRICES)), "changes": samples,
            "deliveries": len(ms), "missed": missed,
            "p50_ms": round(percentile(ms, 50), 1), "p95_ms": round(percentile(ms, 95), 1),
            "p99_ms": round(percentile(ms, 99), 1), "max_ms": round(max(ms), 1),
            "mean_last_store_ms": round(1000 * statistics.mean(worst), 1),
            "latencies_ms": [round(v, 1) for v in ms],
            "cpu_percent_of_one_core": meter.result}


def ingest(world: World, fleet: Fleet, skus: list[str], depth: int,
           window: float) -> dict[str, Any]:
    """Keep every store's outbox ``depth`` 5-line sales deep for ``window`` seconds while
    the real uplinks send them to the ingest workers; count sales committed at central."""
    base = int(world.scalar("SELECT count(*) FROM sales"))  # type: ignore[call-overload]
    stores = len(fleet.merged("versions", PRICES))
    before = _outbox(fleet)
    series: list[tuple[float, int]] = []
    with CpuMeter(cpu_groups(world, fleet)) as meter:
        start = time.monotonic()
        fleet.ask("feed", skus[:SALE_LINES], depth)
        filled_at = time.monotonic() - start
        while time.monotonic() - start < window:
            time.sleep(0.25)
            now = int(world.scalar("SELECT count(*) FROM sales")) - base  # type: ignore[call-overload]
            series.append((time.monotonic() - start, now))
            world.central_online()
        added = sum(fleet.ask("unfeed"))
    after = _outbox(fleet)
    sent, resent = after["sent"] - before["sent"], after["resent"] - before["resent"]
    committed = series[-1][1] if series else 0
    rate = sustained_rate(series)
    return {"stores": stores, "outbox_depth": depth, "window_s": window,
            "fill_seconds": round(filled_at, 2), "sales_written_at_stores": added,
            "committed": committed, "sales_per_s": round(rate, 1),
            "batches_per_s": round(rate / BATCH, 2), "lines_per_s": round(rate * SALE_LINES, 1),
            "entries_sent": sent, "entries_resent": resent,
            "resent_per_committed": round(resent / committed, 2) if committed else None,
            "series": [(round(t, 2), n) for t, n in series],
            "cpu_percent_of_one_core": meter.result}


def _outbox(fleet: Fleet) -> dict[str, int]:
    total = {"pending": 0, "sent": 0, "resent": 0}
    for answer in fleet.ask("outbox"):
        total = {k: total[k] + answer[k] for k in total}
    return total


def sustained_rate(series: list[tuple[float, int]]) -> float:
    """Sales/s over the last 80% of the window (the first 20% is the ramp-up)."""
    if len(series) < 2:
        return 0.0
    cut = series[-1][0] * 0.2
    first = next((p for p in series if p[0] >= cut), series[0])
    last = series[-1]
    if last[0] <= first[0]:
        return 0.0
    return (last[1] - first[1]) / (last[0] - first[0])
