"""N8: an agent of an earlier release keeps working with today's central.

The earlier agent is the real code of an earlier commit (checked out with ``git worktree``):
it knows nothing of checksums, snapshots, batch predecessors or flow control, which were all
added to protocol version 1 as optional fields. It must still receive the catalogue and
price changes, sell, and have every sale at central exactly once.
"""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from tests.e2e.harness import ROOT, Network, ean13, expect

pytestmark = pytest.mark.e2e

# The last commit before checksums, snapshots, epochs forks and one-batch flow control.
EARLIER_AGENT = "bdaaa40"


@pytest.fixture
def earlier_checkout(tmp_path: Path) -> Iterator[Path]:
    where = tmp_path / "earlier"
    known = subprocess.run(["git", "cat-file", "-e", f"{EARLIER_AGENT}^{{commit}}"], cwd=ROOT,
                           capture_output=True)
    if known.returncode != 0:
        pytest.skip(f"commit {EARLIER_AGENT} is not in this clone (shallow history)")
    added = subprocess.run(["git", "worktree", "add", "--detach", str(where), EARLIER_AGENT],
                           cwd=ROOT, capture_output=True, text=True)
    assert added.returncode == 0, added.stderr
    try:
        yield where
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(where)], cwd=ROOT,
                       capture_output=True)
        shutil.rmtree(where, ignore_errors=True)


def test_an_agent_of_an_earlier_release_syncs_and_sells(network: Network,
                                                         earlier_checkout: Path) -> None:
    network.start_central()
    network.create_category("food")
    barcode = ean13(500)
    network.create_product("OLD-1", barcode, "1.00", category="food")
    old = network.add_agent("kiosk-old")
    # The same command, run from the earlier checkout's sources (first on sys.path).
    old.args = [old.args[0], "-c",
                f"import sys; sys.path.insert(0, {str(earlier_checkout)!r}); "
                "from tessera.cli import main; main(['agent', 'run'])"]
    old.start()
    network.wait_agent_ready(old)
    network.wait(lambda: old.price_of(barcode) == Decimal("1.00"), 30, "the product at the "
                 "earlier agent")
    expect(network.central.patch("/api/v1/products/OLD-1", {"sale_price": "1.25"}), 200)
    network.wait(lambda: old.price_of(barcode) == Decimal("1.25"), 30, "the new price")

    uuids = [str(uuid.uuid4()) for _ in range(5)]
    for sale_uuid in uuids:
        expect(old.sell([(barcode, "1")], sale_uuid=sale_uuid), 201)
    network.wait(lambda: len(network.sales_at_central("kiosk-old")) == 5, 30,
                 "the earlier agent's sales at central")
    assert sorted(s["uuid"] for s in network.sales_at_central("kiosk-old")) == sorted(uuids)
    network.wait(lambda: old.status()["outbox_pending"] == 0, 30, "every sale acknowledged")
    # It really was the earlier code: its database has none of today's tables.
    with sqlite3.connect(old.database) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
    conn.close()
    assert "outbox" in tables and not {"entry_hashes", "snapshot_parts"} & tables
    network.check()
