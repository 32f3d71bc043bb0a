"""Liveness end to end (SPEC N6): the fleet view follows a store that crashes, freezes and
comes back, through ``GET /api/v1/fleet`` and ``tessera fleet``."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import time
from typing import Any

import pytest

from tests.e2e.harness import ROOT, TESSERA, Network, expect

pytestmark = pytest.mark.e2e

log = logging.getLogger(__name__)

KEEPALIVE = 3  # seconds; the broker drops a silent client after 1.5 keepalives
SLACK = 5.0  # the broker's will, the publisher's commit and our polling


def fleet_row(net: Network, code: str) -> dict[str, Any]:
    rows = expect(net.central.get("/api/v1/fleet/"), 200)
    (row,) = [r for r in rows if r["code"] == code]
    return dict(row)


def wait_state(net: Network, code: str, online: bool, timeout: float,
               newer_than: int | None = None) -> tuple[float, dict[str, Any]]:
    """Seconds until the fleet shows ``code`` online (or not), and that row."""
    started = time.monotonic()

    def shown() -> dict[str, Any] | None:
        row = fleet_row(net, code)
        if row["online"] != online:
            return None
        if newer_than is not None and (row["session"] or 0) <= newer_than:
            return None
        return row

    row = net.wait(shown, timeout, f"fleet showing {code} {'online' if online else 'offline'}")
    assert isinstance(row, dict)
    return time.monotonic() - started, row


def tessera_fleet(net: Network) -> list[list[str]]:
    result = subprocess.run([*TESSERA, "fleet"], env=net.central_env, cwd=ROOT,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return [line.split() for line in result.stdout.splitlines()]


def test_the_fleet_shows_a_crashed_or_frozen_store_offline_and_its_return(
        network: Network) -> None:
    network.start_central()
    kiosk = network.add_agent("kiosk-1")
    network.add_agent("market").start()
    kiosk.env["TESSERA_BROKER_KEEPALIVE"] = str(KEEPALIVE)
    kiosk.start()
    network.wait_agent_ready(kiosk)
    _, born = wait_state(network, "kiosk-1", True, 30)
    assert born["agent_version"] and born["protocol_version"] == 1
    assert born["epoch"] == kiosk.status()["epoch"]

    # kill -9: the kernel closes the socket, the broker publishes the will at once.
    kiosk.kill()
    crashed, row = wait_state(network, "kiosk-1", False, KEEPALIVE * 1.5 + SLACK)
    log.info("kill -9: offline shown after %.2fs", crashed)
    assert row["session"] == born["session"]

    network.restart_agent(kiosk)
    back, reborn = wait_state(network, "kiosk-1", True, 30, newer_than=born["session"])
    log.info("restart: online shown %.2fs after the agent answered", back)
    table = {line[0]: line for line in tessera_fleet(network)[1:-1]}
    assert table["kiosk-1"][1] == "online"
    assert table["market"][1] == "online"

    # Frozen (SIGSTOP): the connection stays open but silent; only keepalive can tell.
    assert kiosk.popen is not None
    os.killpg(kiosk.popen.pid, signal.SIGSTOP)
    try:
        frozen, row = wait_state(network, "kiosk-1", False, KEEPALIVE * 1.5 + SLACK)
        log.info("SIGSTOP: offline shown after %.2fs (keepalive %ds)", frozen, KEEPALIVE)
        assert row["session"] == reborn["session"]
    finally:
        os.killpg(kiosk.popen.pid, signal.SIGCONT)
    # Thawed, the agent finds its connection gone, reconnects with a new session counter,
    # and the will of the frozen session (older) cannot take it offline again.
    thawed, row = wait_state(network, "kiosk-1", True, 30, newer_than=reborn["session"])
    log.info("SIGCONT: online again after %.2fs", thawed)
    assert fleet_row(network, "kiosk-1")["online"]
    lines = tessera_fleet(network)
    assert lines[-1] == ["2", "stores,", "2", "online,", "0", "not", "online"]
