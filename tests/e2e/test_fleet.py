"""Liveness end to end (SPEC N6): the fleet view follows a store that crashes, freezes and
comes back, through ``GET /api/v1/fleet`` and ``tessera fleet``."""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import sqlite3
import subprocess
import time
from collections import Counter
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from protocol import topics
from tests.e2e.harness import ROOT, TESSERA, Network, expect

pytestmark = pytest.mark.e2e

log = logging.getLogger(__name__)

BARCODE = "4006381333931"
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


def test_a_store_restored_from_a_backup_loses_no_sale_and_counts_none_twice(
        network: Network, tmp_path: Path) -> None:
    network.start_central()
    (kiosk,) = network.start_stores("kiosk-1")
    network.create_product("COLA-1L", BARCODE, "1.99")
    network.wait(lambda: kiosk.price_of(BARCODE) is not None, 30, "catalogue at kiosk-1")
    sold = [expect(kiosk.sell([(BARCODE, "1")]), 201)["uuid"] for _ in range(3)]
    network.wait_outbox_drained(kiosk, sales=3)
    backup = tmp_path / "backup.db"
    with sqlite3.connect(kiosk.database) as live, sqlite3.connect(backup) as copy:
        live.backup(copy)
    live.close()
    copy.close()
    sold += [expect(kiosk.sell([(BARCODE, "2")]), 201)["uuid"] for _ in range(4)]
    network.wait_outbox_drained(kiosk, sales=7)
    old_epoch = kiosk.status()["epoch"]

    # The shop PC dies and is rebuilt from last night's backup, then sells again at once.
    kiosk.kill()
    for suffix in ("-wal", "-shm"):
        Path(f"{kiosk.database}{suffix}").unlink(missing_ok=True)
    shutil.copyfile(backup, kiosk.database)
    network.restart_agent(kiosk)
    sold += [expect(kiosk.sell([(BARCODE, "3")]), 201)["uuid"] for _ in range(5)]

    def settled() -> bool:
        status = kiosk.status()
        return bool(status["outbox_pending"] == 0 and status["epoch"] != old_epoch
                    and len(network.sales_at_central("kiosk-1")) >= len(sold))
    network.wait(settled, 30, "kiosk-1 in a new epoch with every sale at central")
    held = Counter(sale["uuid"] for sale in network.sales_at_central("kiosk-1"))
    assert [u for u, n in held.items() if n > 1] == []
    assert set(held) == set(sold) and len(sold) == 12
    new_epoch = kiosk.status()["epoch"]
    network.wait(lambda: fleet_row(network, "kiosk-1")["epoch"] == new_epoch, 10,
                 "the fleet showing the new epoch")


def test_a_store_whose_birth_was_lost_is_asked_for_another(network: Network) -> None:
    """The broker's retained state says the store is dead (its new birth was lost on the
    way), yet it asks for changes: central asks it for its birth again (``rebirth`` on its
    ``cmd`` topic) and shows it online."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    from protocol import messages, topics
    from protocol.encoding import dumps

    network.start_central()
    (kiosk,) = network.start_stores("kiosk-1")
    row = wait_state(network, "kiosk-1", True, 20)[1]
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="test-lost-birth")
    client.connect("127.0.0.1", network.broker.port)
    client.loop_start()
    try:
        death = messages.envelope("death", store="kiosk-1", online=False,
                                  session=row["session"], epoch=row["epoch"])
        client.publish(topics.store_state("kiosk-1"), dumps(death), qos=1,
                       retain=True).wait_for_publish(5)
    finally:
        client.loop_stop()
        client.disconnect()
    wait_state(network, "kiosk-1", False, 10)
    seconds, _ = wait_state(network, "kiosk-1", True, 20)
    assert "asking for its birth again" in network.proc("publisher").log.read_text()
    assert "central asks for our birth again" in kiosk.log.read_text()
    network.check()


def test_a_forged_batch_head_is_corrected_by_the_idle_stores_next_catch_up(
        network: Network) -> None:
    """Issue 10, item 8: a batch claiming ``head: 999999`` on an idle store's up topic (what
    anything holding the store's broker login can send) is forgotten at the store's next
    periodic catch-up request, which carries its real outbox head; so are the metric."""
    network.start_central()
    (kiosk,) = network.start_stores("kiosk-1")
    network.create_product("COLA-1L", BARCODE, "1.99")
    network.wait(lambda: kiosk.price_of(BARCODE) is not None, 30, "catalogue at kiosk-1")
    sold = expect(kiosk.sell([(BARCODE, "1")]), 201)["uuid"]
    network.wait_outbox_drained(kiosk, sales=1)
    network.wait(lambda: fleet_row(network, "kiosk-1")["backlog"] == 0, 30,
                 "kiosk-1's backlog of 0 at central")
    epoch = kiosk.status()["epoch"]

    def pending_metric() -> str:
        text = network.central.get("/metrics").text
        (line,) = [ln for ln in text.splitlines()
                   if ln.startswith('tessera_store_outbox_pending{store="kiosk-1"}')]
        return line.split()[-1]

    forged = json.dumps({"v": 1, "kind": "batch", "store": "kiosk-1", "epoch": epoch,
                         "head": 999999, "entries": [{"seq": 1, "kind": "sale", "id": sold,
                                                      "body": {}}]})
    assert kiosk.popen is not None
    # Frozen, the agent sends nothing (no batch, no catch-up) until thawed: the forged
    # figure is seen at central before anything can correct it.
    os.kill(kiosk.popen.pid, signal.SIGSTOP)
    try:
        forger = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="forger",
                             protocol=mqtt.MQTTv5)
        forger.connect("127.0.0.1", network.broker.port)
        forger.loop_start()
        try:
            forger.publish(topics.store_up("kiosk-1"), forged, qos=1).wait_for_publish(5)
        finally:
            forger.disconnect()
            forger.loop_stop()
        network.wait(lambda: fleet_row(network, "kiosk-1")["backlog"] == 999998, 30,
                     "the forged backlog at central")
        assert pending_metric() == "999998"
    finally:
        os.kill(kiosk.popen.pid, signal.SIGCONT)
    # No sale since: only the periodic catch-up request (every 2 s here) can correct it.
    network.wait(lambda: fleet_row(network, "kiosk-1")["backlog"] == 0, 30,
                 "the backlog corrected by kiosk-1's next catch-up request")
    assert pending_metric() == "0"
    assert fleet_row(network, "kiosk-1")["outbox_head"] == 1
    assert len(network.sales_at_central("kiosk-1")) == 1
