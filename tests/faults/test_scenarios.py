"""Fault-injection scenarios (notes/sync-over-mqtt.md §5) against real processes.

Every test runs broker, central (web, publisher, ingest worker) and store agents as
processes, with the fault proxy between all of them and Mosquitto; it breaks something
while tills sell and head office edits the catalogue, heals it, and then waits for the
invariant (tests/faults/invariants.py): central holds every store's sales exactly once and
every store holds central's stream versions and catalogue.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
from decimal import Decimal

import pytest

from protocol import messages, topics
from protocol.encoding import dumps
from store_agent.sqlite_store import LocalStore
from tests.e2e.harness import ROOT, TESSERA, Agent, ean13, expect
from tests.faults import invariants
from tests.faults.proxy import BOTH, DOWN, UP
from tests.faults.scenario import (
    FaultNetwork,
    HeadOffice,
    Spy,
    Till,
    confirmed_at_central,
)

pytestmark = [pytest.mark.e2e, pytest.mark.faults]

KIOSK = "store-kiosk-1"


def test_store_offline_while_both_sides_write(faulty: FaultNetwork) -> None:
    """1. A store loses the network for a while; it sells on (several batches' worth),
    head office edits on (more changes than one catch-up chunk of 500)."""
    faulty.start_central()
    kiosk, market = faulty.start_stores("kiosk-1", "market")
    barcodes = faulty.seed_catalogue(40)

    faulty.proxy.refuse(KIOSK)
    assert faulty.proxy.reset(KIOSK) == 1
    faulty.wait(lambda: not kiosk.status()["broker_connected"], 10, "kiosk-1 offline")
    tills = [Till(kiosk, barcodes, limit=250), Till(market, barcodes, limit=50)]
    office = HeadOffice(faulty, ["SKU-1", "SKU-2"])
    for thread in (*tills, office):
        thread.start()
    for _ in range(15):  # 15 x 40 product changes
        expect(faulty.central.post("/api/v1/products/bulk-price", {
            "mode": "amount", "value": "0.01", "category": "food", "preview": False}), 200)
    faulty.create_product("NEW", "2000000000992", "9.99", category="food")
    for till in tills:
        till.sold(till.limit or 0, timeout=60)
    office.stop()
    assert kiosk.status()["outbox_pending"] == 250
    assert kiosk.price_of("2000000000992") is None  # nothing reached the store
    assert kiosk.status()["streams"]["catalog"] < 600

    faulty.proxy.refuse(KIOSK, on=False)
    faulty.invariant()
    for till in tills:
        confirmed_at_central(faulty, till.agent.code, till.stop())
    assert kiosk.price_of("2000000000992") == Decimal("9.99")


def start_with_catalogue(net: FaultNetwork, *stores: str,
                         products: int = 4) -> tuple[list, list[str]]:
    net.start_central()
    agents = net.start_stores(*stores)
    return agents, net.seed_catalogue(products)


@pytest.mark.parametrize("broker_config", [
    "",
    "persistence true\npersistence_location {workdir}/\nautosave_interval 1\nuser root\n",
], ids=["persistence-off", "persistence-on"])
def test_broker_kill9_during_floods_both_ways(faulty: FaultNetwork) -> None:
    """2. kill -9 of the broker while tills flood sales up and head office floods price
    changes down. Persistence off: retained acks, births and central's state are gone;
    on: they come back as they were at the last save, i.e. stale."""
    (kiosk, market), barcodes = start_with_catalogue(faulty, "kiosk-1", "market")
    tills = [Till(kiosk, barcodes), Till(market, barcodes)]
    office = HeadOffice(faulty, ["SKU-1", "SKU-2", "SKU-3"], pause=0.02)
    for thread in (*tills, office):
        thread.start()
    for till in tills:
        till.sold(15)
    faulty.broker.kill()
    for till in tills:  # the stores keep selling with the broker gone
        till.sold(len(till.accepted) + 10)
    faulty.broker.start()
    for till in tills:
        till.sold(len(till.accepted) + 15)
    edits = office.stop()
    accepted = {till.agent.code: till.stop() for till in tills}
    assert edits >= 5
    faulty.invariant()
    for code, uuids in accepted.items():
        confirmed_at_central(faulty, code, uuids)


def test_agent_kill9_between_commit_publish_and_ack(faulty: FaultNetwork) -> None:
    """3. kill -9 of the agent after the SQLite commit but before the batch reached the
    broker, then after the broker took it but before central's ack, then mid-flood."""
    (kiosk,), barcodes = start_with_catalogue(faulty, "kiosk-1")
    # (a) committed, "published" into the void: the proxy swallows the batches.
    faulty.proxy.drop(KIOSK, UP, topic=topics.store_up("kiosk-1"))
    for i in range(5):
        assert kiosk.sell([(barcodes[i % 4], "1")]).status_code == 201
    faulty.wait(lambda: faulty.proxy.stats.dropped >= 1, 10, "a batch swallowed")
    kiosk.kill()
    faulty.proxy.clear(KIOSK)
    faulty.restart_agent(kiosk)
    faulty.wait_outbox_drained(kiosk, sales=5)

    # (b) at the broker, never ingested: no ingest worker runs.
    faulty.proc("ingest-a").stop()
    spy = Spy(faulty.broker.port, topics.store_up("kiosk-1"))
    try:
        for i in range(5):
            assert kiosk.sell([(barcodes[i % 4], "2")]).status_code == 201
        faulty.wait(lambda: any(e["seq"] == 10 for m in spy.messages
                                for e in json.loads(m)["entries"]), 10,
                    "the batch with seq 10 at the broker")
    finally:
        spy.close()
    kiosk.kill()
    faulty.start_ingest("a")
    faulty.restart_agent(kiosk)
    faulty.wait_outbox_drained(kiosk, sales=10)

    # (c) anywhere in a flood.
    till = Till(kiosk, barcodes)
    till.start()
    till.sold(20)
    kiosk.kill()
    faulty.restart_agent(kiosk)
    till.sold(len(till.accepted) + 10)
    confirmed = till.stop()
    faulty.invariant()
    confirmed_at_central(faulty, "kiosk-1", confirmed)


def test_ingester_kill9_mid_flood_with_a_shared_subscription(faulty: FaultNetwork) -> None:
    """4 and 6. kill -9 of the ingest workers between their commit and the PUBACK (and the
    ack); then mid-flood, one while a second one shares the subscription, then the last."""
    faulty.start_central(ingest_workers=("a", "b"))
    agents = faulty.start_stores("kiosk-1", "market")
    barcodes = faulty.seed_catalogue(3)

    # Committed at central, but neither the PUBACK nor the ack leaves the workers.
    for name in ("a", "b"):
        assert faulty.proxy.blackhole(f"tessera-central-ingest-{name}", UP) == 1
    for agent in agents:
        for i in range(5):
            expect(agent.sell([(barcodes[i % 3], "1")]), 201)
    assert faulty.database_url is not None
    faulty.wait(lambda: len(invariants.read_central(faulty.database_url).sales) == 10, 20,
                "the 10 sales committed at central")
    assert all(agent.status()["outbox_pending"] == 5 for agent in agents)  # never acked
    for name in ("a", "b"):
        faulty.proc(f"ingest-{name}").kill()
        faulty.start_ingest(name)
    for agent in agents:
        faulty.wait_outbox_drained(agent, sales=5)

    tills = [Till(agent, barcodes) for agent in agents]
    for till in tills:
        till.start()
    for till in tills:
        till.sold(20)
    faulty.proc("ingest-a").kill()
    for till in tills:
        till.sold(len(till.accepted) + 20)
    faulty.proc("ingest-b").kill()
    for till in tills:
        till.sold(len(till.accepted) + 10)
    faulty.start_ingest("a")
    faulty.start_ingest("b")
    for till in tills:
        till.sold(len(till.accepted) + 10)
    accepted = {till.agent.code: till.stop() for till in tills}
    faulty.invariant()
    for code, uuids in accepted.items():
        confirmed_at_central(faulty, code, uuids)


def test_half_open_connection_and_a_stale_will(faulty: FaultNetwork) -> None:
    """5. The store's TCP connection goes half-open (nothing passes, nobody is told); the
    agent and the broker find out by keepalive; a will from the old session arriving after
    the new birth must not mark the store offline."""
    (kiosk,), barcodes = start_with_catalogue(faulty, "kiosk-1", products=2)
    faulty.wait(lambda: (faulty.store_status("kiosk-1") or {}).get("online"), 10,
                "kiosk-1 online at central")
    old_session = faulty.store_status("kiosk-1")["session"]  # type: ignore[index]
    assert faulty.proxy.blackhole(KIOSK) == 1
    till = Till(kiosk, barcodes, limit=10)
    till.start()
    expect_price = "7.77"
    expect(faulty.central.patch("/api/v1/products/SKU-1", {"sale_price": expect_price}), 200)
    till.sold(10)
    faulty.wait(lambda: faulty.proxy.connections(KIOSK) == [KIOSK]
                and kiosk.status()["broker_connected"]
                and (faulty.store_status("kiosk-1") or {}).get("session", 0) > old_session,
                20, "kiosk-1 back on a new connection and a new session")
    faulty.invariant()
    confirmed_at_central(faulty, "kiosk-1", till.stop())
    assert kiosk.price_of(barcodes[0]) == Decimal(expect_price)

    status = faulty.store_status("kiosk-1")
    assert status is not None and status["online"]
    stale = messages.envelope("death", store="kiosk-1", online=False, session=old_session,
                              sent_at="2026-01-01T00:00:00+00:00")
    spy = Spy(faulty.broker.port, topics.store_state("kiosk-1"))
    # Then a birth of the current session with a marker: once central recorded the marker,
    # it has handled the stale will before it (one queue, in order).
    marker = messages.envelope("birth", store="kiosk-1", online=True,
                               session=status["session"], agent_version="after-stale-will",
                               sent_at="2026-01-01T00:00:00+00:00")
    try:
        spy.publish(topics.store_state("kiosk-1"), dumps(stale), retain=True)
        spy.publish(topics.store_state("kiosk-1"), dumps(marker), retain=True)
        faulty.wait(lambda: (faulty.store_status("kiosk-1") or {}).get("agent_version")
                    == "after-stale-will", 10, "central handling the marker birth")
    finally:
        spy.close()
    after = faulty.store_status("kiosk-1")
    assert after is not None
    assert (after["online"], after["session"]) == (True, status["session"])


def test_duplicated_packets_everywhere(faulty: FaultNetwork) -> None:
    """6. Every PUBLISH twice: batches up, acks, changes down, births and catch-ups."""
    (kiosk, market), barcodes = start_with_catalogue(faulty, "kiosk-1", "market")
    for clients, direction in (("store-*", UP), ("store-*", DOWN),
                               ("tessera-central-*", UP), ("tessera-central-*", DOWN)):
        faulty.proxy.duplicate(clients, direction)
    tills = [Till(kiosk, barcodes, limit=30), Till(market, barcodes, limit=30)]
    office = HeadOffice(faulty, ["SKU-1", "SKU-2"])
    for thread in (*tills, office):
        thread.start()
    for till in tills:
        till.sold(30)
    faulty.wait(lambda: office.edits >= 10, 20, "price edits")
    office.stop()
    faulty.invariant()
    assert faulty.proxy.stats.duplicated >= 20  # the scenario did what it says
    for till in tills:
        confirmed_at_central(faulty, till.agent.code, till.stop())
    faulty.check()  # nobody choked on a duplicate


def test_reordered_and_late_packets(faulty: FaultNetwork) -> None:
    """6. Packets overtaken by later ones and copies arriving late: batches reach central
    out of order (a gap, then the resend), changes reach stores past a hole, old acks,
    births and deaths come back after newer ones."""
    (kiosk, market), barcodes = start_with_catalogue(faulty, "kiosk-1", "market")
    faults = [faulty.proxy.reorder(400, "store-*", UP, count=6),
              faulty.proxy.reorder(400, "store-*", DOWN, count=6),
              faulty.proxy.duplicate("tessera-central-*", BOTH, count=30, late_ms=1500)]
    tills = [Till(kiosk, barcodes, limit=40, pause=0.02),
             Till(market, barcodes, limit=40, pause=0.02)]
    office = HeadOffice(faulty, ["SKU-1", "SKU-2", "SKU-3"], pause=0.05)
    for thread in (*tills, office):
        thread.start()
    for till in tills:
        till.sold(40)
    faulty.wait(lambda: all(f.count == 0 for f in faults), 20, "every fault used up")
    office.stop()
    faulty.invariant()
    assert faulty.proxy.stats.reordered == 12
    for till in tills:
        confirmed_at_central(faulty, till.agent.code, till.stop())


def test_dropped_deltas_are_caught_up_from_the_log(faulty: FaultNetwork) -> None:
    """7. Changes lost on the way to a store: a later change reveals the hole, and the
    periodic catch-up finds the loss of the very last change (no successor reveals it)."""
    (kiosk, market), barcodes = start_with_catalogue(faulty, "kiosk-1", "market")
    catalog = topics.bucket_down("catalog")
    lost = faulty.proxy.drop(KIOSK, DOWN, topic=catalog, count=2)
    # One message each (market has it before the next edit): the first two are lost to
    # kiosk-1, the third shows it a hole.
    for price in ("3.01", "3.02", "3.03"):
        expect(faulty.central.patch("/api/v1/products/SKU-1", {"sale_price": price}), 200)
        faulty.wait(lambda p=price: market.price_of(barcodes[0]) == Decimal(p), 10,
                    f"market selling at {price}")
    assert lost.count == 0
    faulty.wait(lambda: kiosk.price_of(barcodes[0]) == Decimal("3.03"), 15,
                "kiosk-1 repaired by catch-up")

    last = faulty.proxy.drop(KIOSK, DOWN, topic=catalog, count=1)
    expect(faulty.central.patch("/api/v1/products/SKU-2", {"sale_price": "4.44"}), 200)
    faulty.wait(lambda: last.count == 0, 10, "the last delta dropped")
    faulty.wait(lambda: market.price_of(barcodes[1]) == Decimal("4.44"), 10, "market has it")
    faulty.wait(lambda: kiosk.price_of(barcodes[1]) == Decimal("4.44"), 15,
                "kiosk-1 repaired by its periodic catch-up")
    faulty.invariant()


def compact_log(net: FaultNetwork) -> None:
    """``tessera central compact --keep 0``, as an operator runs it."""
    result = subprocess.run([*TESSERA, "central", "compact", "--keep", "0"],
                            env=net.central_env, cwd=ROOT, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    assert "changes forgotten" in result.stdout


def away_across_a_compaction(net: FaultNetwork, kiosk: Agent, products: int) -> None:
    """kiosk-1 loses the network while head office imports ``products`` products, adds and
    removes a price override of kiosk-1, retires a product, and compacts the log."""
    net.proxy.refuse(KIOSK)
    net.proxy.reset(KIOSK)
    net.wait(lambda: not kiosk.status()["broker_connected"], 10, "kiosk-1 offline")
    rows = ["sku,name,category,vat_rate,sale_price,barcodes"] + [
        f"BULK-{i},Bulk {i},food,20,{i % 50 + 1}.25,{ean13(10_000 + i)}"
        for i in range(products)]
    report = expect(net.central.request("POST", "/api/v1/products/import",
                                        params={"preview": "false"},
                                        data="\n".join(rows).encode(),
                                        headers={"Content-Type": "text/csv"}, timeout=120), 200)
    assert not report["rejected"], report["rejected"][:3]
    override = expect(net.central.post("/api/v1/prices/", {
        "sku": "SKU-1", "price": "0.50", "scope": "store", "ref": "kiosk-1"}), 201)
    expect(net.central.delete(f"/api/v1/prices/{override['id']}"), 200, 204)
    expect(net.central.delete("/api/v1/products/SKU-2"), 200)
    compact_log(net)


def test_snapshot_parts_reordered_and_duplicated(faulty: FaultNetwork) -> None:
    """7. A store behind a compacted log gets a snapshot in parts; the parts overtake each
    other and come twice, late."""
    (kiosk, _market), _barcodes = start_with_catalogue(faulty, "kiosk-1", "market")
    away_across_a_compaction(faulty, kiosk, 1200)  # two parts of 1,000 entries at most
    snapshot = b'"kind":"snapshot"'
    reordered = faulty.proxy.reorder(500, KIOSK, DOWN, count=1, contains=snapshot)
    # (one fault per connection and direction: the copies are made on central's side)
    duplicated = faulty.proxy.duplicate("tessera-central-publisher", UP, count=2,
                                        late_ms=1500, contains=snapshot)
    faulty.proxy.refuse(KIOSK, on=False)
    faulty.invariant()
    assert reordered.count == 0 and duplicated.count == 0
    assert "snapshot" in kiosk.log.read_text()


def test_snapshot_part_lost(faulty: FaultNetwork) -> None:
    """7. A snapshot part is lost: the store asks again and a whole new snapshot comes
    (central sends one store at most one snapshot of a stream per 30 s: this one waits)."""
    (kiosk, _market), _barcodes = start_with_catalogue(faulty, "kiosk-1", "market")
    away_across_a_compaction(faulty, kiosk, 10)
    lost = faulty.proxy.drop(KIOSK, DOWN, count=1, contains=b'"kind":"snapshot"')
    faulty.proxy.refuse(KIOSK, on=False)
    faulty.wait(lambda: lost.count == 0, 10, "a snapshot part lost")
    faulty.invariant(timeout=75)


@pytest.mark.parametrize("broker_config",
                         ["max_inflight_messages 2\nmax_queued_messages 3\n"])
def test_broker_queue_overflow_drops_deltas(faulty: FaultNetwork) -> None:
    """10. A store on a slow link: the broker's queue for it overflows and Mosquitto drops
    changes silently; the store must notice and catch up."""
    (kiosk, market), barcodes = start_with_catalogue(faulty, "kiosk-1", "market")
    faulty.proxy.delay(400, KIOSK, DOWN)
    office = HeadOffice(faulty, ["SKU-1", "SKU-2", "SKU-3"], pause=0.01)
    office.start()
    faulty.wait(lambda: "dropped" in faulty.broker.log.read_text(errors="replace")
                and office.edits >= 30, 30, "mosquitto dropping messages for kiosk-1")
    office.stop()
    faulty.proxy.clear(KIOSK)
    till = Till(kiosk, barcodes, limit=5)
    till.start()
    faulty.invariant()
    confirmed_at_central(faulty, "kiosk-1", till.stop())


def test_agent_kill9_keeps_every_confirmed_sale(faulty: FaultNetwork) -> None:
    """12. SQLite in WAL with synchronous=FULL: kill -9 right after the till got its 201;
    every confirmed sale is in the file after the crash, intact, and reaches central."""
    (kiosk,), barcodes = start_with_catalogue(faulty, "kiosk-1", products=2)
    faulty.proc("ingest-a").stop()  # keep them in the outbox: the crash must not lose them
    till = Till(kiosk, barcodes, limit=40)
    till.start()
    till.sold(40)
    kiosk.kill()
    confirmed = till.stop()

    store = LocalStore(kiosk.database)
    try:
        conn = store.connection()
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        held = {row[0] for row in conn.execute("SELECT uuid FROM sales")}
        assert set(confirmed) <= held
        assert conn.execute("SELECT COUNT(*) FROM outbox").fetchone()[0] == len(held)
    finally:
        store.close()
    faulty.start_ingest("a")
    faulty.restart_agent(kiosk)
    faulty.invariant()
    confirmed_at_central(faulty, "kiosk-1", confirmed)
    conn = sqlite3.connect(kiosk.database)
    try:
        assert conn.execute("SELECT COUNT(*) FROM sales").fetchone()[0] == len(held)
    finally:
        conn.close()


def test_the_invariant_notices_what_it_should(faulty: FaultNetwork) -> None:
    """The checker itself: quiet and intact passes; each kind of damage is reported."""
    (kiosk,), barcodes = start_with_catalogue(faulty, "kiosk-1", products=2)
    expect(faulty.central.post("/api/v1/prices/", {"sku": "SKU-1", "price": "0.99",
                                                   "scope": "store", "ref": "kiosk-1"}), 201)
    for i in range(3):
        expect(kiosk.sell([(barcodes[i % 2], "1")]), 201)
    faulty.invariant()
    kiosk.kill()
    assert faulty.database_url is not None
    conn = sqlite3.connect(kiosk.database)
    try:
        with conn:
            conn.execute("DELETE FROM sales WHERE number = 1")
            conn.execute("UPDATE products SET sale_price = '0.01' WHERE sku = 'SKU-2'")
            conn.execute("UPDATE streams SET version = version + 1 WHERE stream = 'catalog'")
            conn.execute("DELETE FROM prices")
            conn.execute("INSERT INTO outbox (kind, ref, body, created_at) "
                         "VALUES ('sale', 'x', '{}', '')")
    finally:
        conn.close()
    found = "\n".join(invariants.problems(faulty.database_url, faulty.agent_databases()))
    for expected in ("1 sales at central unknown to the store", "stream versions",
                     "products differ", "price entries differ", "outbox entries not acked",
                     "acked seq 3 != outbox head 4"):
        assert expected in found, found


def test_sales_flow_while_one_ingest_worker_is_half_open(faulty: FaultNetwork) -> None:
    """6. One of two ingest workers on the shared subscription goes half-open: the broker
    goes on handing it every other batch (blind round-robin) until its keepalive runs out
    (45 s); the stores' resends must still get every sale in through the other worker."""
    faulty.start_central(ingest_workers=("a", "b"))
    agents = faulty.start_stores("kiosk-1", "market")
    barcodes = faulty.seed_catalogue(3)
    assert faulty.proxy.blackhole("tessera-central-ingest-a") == 1
    tills = [Till(agent, barcodes, limit=30, pause=0.05) for agent in agents]
    for till in tills:
        till.start()
    for till in tills:
        till.sold(30)
    faulty.invariant(timeout=30)  # well before the broker drops the dead worker
    assert faulty.proxy.connections("tessera-central-ingest-a") == ["tessera-central-ingest-a"]
    for till in tills:
        confirmed_at_central(faulty, till.agent.code, till.stop())
