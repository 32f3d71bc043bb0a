"""Snapshots with real processes: once central's log is compacted, a store that was away,
and a store that arrives, are rebuilt from a snapshot and then follow the live changes.

The store offline during the compaction misses a deletion that no longer exists in the
log (a price override created and removed): only a snapshot can tell it, and it does.
"""

from __future__ import annotations

import subprocess
from decimal import Decimal

import pytest

from tests.e2e.harness import ROOT, SYNC, TESSERA, Agent, Network, ean13, expect

pytestmark = pytest.mark.e2e



def price(store: Agent, code: str) -> Decimal | None:
    """The price the till charges for ``code`` now (overrides included); None if unsold."""
    response = store.product(code)
    return None if response.status_code == 404 else Decimal(response.json()["price"])


def test_stores_behind_a_compacted_log_are_rebuilt_from_snapshots(network: Network) -> None:
    network.start_central()
    network.create_category("food")
    for i in range(1, 6):
        network.create_product(f"P-{i}", ean13(100 + i), f"{i}.00", category="food")
    (kiosk,) = network.start_stores("kiosk-1")
    network.wait(lambda: kiosk.status()["products"] == 5, SYNC, "kiosk-1 holding 5 products")

    override = expect(network.central.post("/api/v1/prices/", {
        "sku": "P-1", "price": "0.50", "scope": "store", "ref": "kiosk-1"}), 201)
    network.wait(lambda: price(kiosk, ean13(101)) == Decimal("0.50"), SYNC,
                 "the override at kiosk-1")

    kiosk.stop()  # away while head office works and compacts the log
    expect(network.central.delete(f"/api/v1/prices/{override['id']}"), 200, 204)
    for i in range(6, 9):
        network.create_product(f"P-{i}", ean13(100 + i), f"{i}.00", category="food")
    expect(network.central.patch("/api/v1/products/P-2", {"sale_price": "2.22"}), 200)
    expect(network.central.delete("/api/v1/products/P-3"), 200)
    compact = subprocess.run([*TESSERA, "central", "compact", "--keep", "0"],
                             env=network.central_env, cwd=ROOT, capture_output=True, text=True,
                             timeout=60)
    assert compact.returncode == 0, compact.stderr
    assert "changes forgotten" in compact.stdout

    network.restart_agent(kiosk)
    network.wait(lambda: price(kiosk, ean13(101)) == Decimal("1.00"), SYNC,
                 "kiosk-1 back to the base price: the removed override is gone")
    network.wait(lambda: kiosk.status()["products"] == 7, SYNC, "kiosk-1 holding 7 products")
    assert price(kiosk, ean13(102)) == Decimal("2.22")
    assert price(kiosk, ean13(103)) is None
    assert price(kiosk, ean13(108)) == Decimal("8.00")
    assert "snapshot" in kiosk.log.read_text()

    # A store that arrives now is built from snapshots too, then follows live changes.
    (late,) = network.start_stores("market-9")
    network.wait(lambda: late.status()["products"] == 7, SYNC, "market-9 holding 7 products")
    expect(network.central.patch("/api/v1/products/P-8", {"sale_price": "8.88"}), 200)
    for store in (kiosk, late):
        network.wait(lambda s=store: price(s, ean13(108)) == Decimal("8.88"), SYNC,
                     f"{store.name} following the live change")
    # Central sees both stores at its head on every stream they follow.
    def in_step() -> bool:
        rows = {row["code"]: row for row in expect(network.central.get("/api/v1/fleet/"), 200)}
        return all(rows[code]["lag"] == 0 for code in ("kiosk-1", "market-9"))

    network.wait(in_step, SYNC, "both stores at central's head versions")
    network.check()


def test_a_store_that_drifted_is_repaired_by_a_snapshot(network: Network) -> None:
    """Same version, other data (a bug or a damaged disk): the checksums differ at the next
    catch-up, central sends a snapshot, and the store holds central's data again."""
    import sqlite3

    from protocol.checksum import combine, entry_hash

    network.start_central()
    network.create_category("food")
    for i in range(1, 4):
        network.create_product(f"P-{i}", ean13(200 + i), f"{i}.00", category="food")
    (kiosk,) = network.start_stores("kiosk-1")
    network.wait(lambda: kiosk.status()["products"] == 3, SYNC, "kiosk-1 holding 3 products")
    kiosk.stop()

    # The damage: P-2 sells at 0.01 and the store believes that is central's state (its entry
    # hash and checksum agree with the damaged row), at the same version as central.
    with sqlite3.connect(kiosk.database) as conn:
        conn.execute("UPDATE products SET sale_price = '0.01' WHERE sku = 'P-2'")
        old = conn.execute("SELECT hash FROM entry_hashes WHERE key = 'P-2'").fetchone()[0]
        new = entry_hash("product", "P-2", {"sku": "P-2", "damaged": True})
        conn.execute("UPDATE entry_hashes SET hash = ? WHERE key = 'P-2'", (f"{new:016x}",))
        checksum = conn.execute("SELECT checksum FROM streams WHERE stream = 'catalog'"
                                ).fetchone()[0]
        conn.execute("UPDATE streams SET checksum = ? WHERE stream = 'catalog'",
                     (combine(checksum, int(old, 16), new),))
    conn.close()

    network.restart_agent(kiosk)
    network.wait(lambda: price(kiosk, ean13(202)) == Decimal("2.00"), SYNC,
                 "P-2 back at central's price")
    assert "drifted on catalog" in network.proc("publisher").log.read_text()
    network.check()
