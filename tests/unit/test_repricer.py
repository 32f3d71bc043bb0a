"""The re-pricing thread of an ingest process gives way to ingest without starving."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from central.bridge import ingester
from tests.support import wait_until


class FakeDatabase:
    @contextmanager
    def transaction(self) -> Iterator[None]:
        yield None


@pytest.fixture
def passes(monkeypatch: pytest.MonkeyPatch) -> list[tuple[float, int]]:
    """(when, limit) of every re-pricing pass; each finds sales to re-price."""
    calls: list[tuple[float, int]] = []

    def reprice_pending(_session: Any, limit: int = 200) -> int:
        calls.append((time.monotonic(), limit))
        return limit

    monkeypatch.setattr(ingester.repricing, "reprice_pending", reprice_pending)
    return calls


def run(repricer: ingester.Repricer) -> threading.Thread:
    thread = threading.Thread(target=repricer.run, daemon=True)
    thread.start()
    return thread


def test_while_ingest_is_busy_only_a_few_sales_now_and_then(
        passes: list[tuple[float, int]]) -> None:
    busy = threading.Event()
    busy.set()
    repricer = ingester.Repricer(FakeDatabase(), busy=busy.is_set,  # type: ignore[arg-type]
                                 batch=200, busy_batch=20, starve_after=0.3)
    started = time.monotonic()
    thread = run(repricer)
    try:
        wait_until(lambda: len(passes) >= 2, 5, what="two passes while busy")
        assert [limit for _when, limit in passes[:2]] == [20, 20]
        assert passes[0][0] - started >= 0.3 and passes[1][0] - passes[0][0] >= 0.3
        busy.clear()
        wait_until(lambda: passes[-1][1] == 200, 5, what="full passes once ingest is quiet")
    finally:
        repricer.stop()
        thread.join(5)


def test_alone_it_reprices_at_full_speed(passes: list[tuple[float, int]]) -> None:
    repricer = ingester.Repricer(FakeDatabase(), batch=200)  # type: ignore[arg-type]
    thread = run(repricer)
    try:
        wait_until(lambda: len(passes) >= 3, 5, what="passes")
        assert {limit for _when, limit in passes} == {200}
    finally:
        repricer.stop()
        thread.join(5)
