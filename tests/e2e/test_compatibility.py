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
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path

import pytest

from store_agent.migrations import MIGRATIONS
from tests.e2e.harness import ROOT, Agent, Network, ean13, expect

pytestmark = pytest.mark.e2e

# The last commit before checksums, snapshots, epochs forks and one-batch flow control.
EARLIER_AGENT = "bdaaa40"


# The last commit whose agent created its SQLite schema without numbered migrations.
BEFORE_MIGRATIONS = "bbc1d7e"


@contextmanager
def checkout(commit: str, where: Path) -> Iterator[Path]:
    """The sources of ``commit`` in a temporary ``git worktree``."""
    known = subprocess.run(["git", "cat-file", "-e", f"{commit}^{{commit}}"], cwd=ROOT,
                           capture_output=True)
    if known.returncode != 0:
        pytest.skip(f"commit {commit} is not in this clone (shallow history)")
    added = subprocess.run(["git", "worktree", "add", "--detach", str(where), commit],
                           cwd=ROOT, capture_output=True, text=True)
    assert added.returncode == 0, added.stderr
    try:
        yield where
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(where)], cwd=ROOT,
                       capture_output=True)
        shutil.rmtree(where, ignore_errors=True)


@pytest.fixture
def earlier_checkout(tmp_path: Path) -> Iterator[Path]:
    with checkout(EARLIER_AGENT, tmp_path / "earlier") as where:
        yield where


def run_from(agent: Agent, sources: Path) -> list[str]:
    """Make ``agent`` run the code in ``sources``; returns the arguments it had."""
    before = agent.args
    # The same command, run from the earlier checkout's sources (first on sys.path).
    agent.args = [before[0], "-c", f"import sys; sys.path.insert(0, {str(sources)!r}); "
                  "from tessera.cli import main; main(['agent', 'run'])"]
    return before


def test_an_agent_of_an_earlier_release_syncs_and_sells(network: Network,
                                                         earlier_checkout: Path) -> None:
    network.start_central()
    network.create_category("food")
    barcode = ean13(500)
    network.create_product("OLD-1", barcode, "1.00", category="food")
    old = network.add_agent("kiosk-old")
    run_from(old, earlier_checkout)
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


@pytest.mark.parametrize("commit", [EARLIER_AGENT, BEFORE_MIGRATIONS])
def test_the_database_of_an_earlier_agent_is_upgraded_then_syncs_and_sells(
        network: Network, tmp_path: Path, commit: str) -> None:
    """An unattended store gets today's agent over its old database: it migrates by itself,
    keeps its history and unsent sales, follows central again and sells."""
    network.start_central()
    network.create_category("food")
    barcode = ean13(600)
    network.create_product("KEPT-1", barcode, "1.00", category="food")
    agent = network.add_agent("kiosk-up")
    first = [str(uuid.uuid4()) for _ in range(3)]
    with checkout(commit, tmp_path / "earlier") as sources:
        today = run_from(agent, sources)
        agent.start()
        network.wait_agent_ready(agent)
        network.wait(lambda: agent.price_of(barcode) == Decimal("1.00"), 30,
                     "the product at the earlier agent")
        for sale_uuid in first:
            expect(agent.sell([(barcode, "1")], sale_uuid=sale_uuid), 201)
        agent.stop()  # whatever central has not acknowledged yet stays in its outbox
    with sqlite3.connect(agent.database) as conn:
        old_meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
    conn.close()
    assert "migration" not in old_meta  # really a database from before migrations

    agent.args = today
    network.restart_agent(agent)
    with sqlite3.connect(agent.database) as conn:
        meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
    conn.close()
    assert meta["migration"] == str(MIGRATIONS[-1].number)
    assert (meta["epoch"], meta["receipt_number"]) == (old_meta["epoch"], "3")

    expect(network.central.patch("/api/v1/products/KEPT-1", {"sale_price": "1.25"}), 200)
    network.wait(lambda: agent.price_of(barcode) == Decimal("1.25"), 30,
                 "a change made after the upgrade")
    later = [str(uuid.uuid4()) for _ in range(2)]
    for sale_uuid in later:
        sold = expect(agent.sell([(barcode, "1")], sale_uuid=sale_uuid), 201)
        assert sold["total"] == "1.25"
    network.wait(lambda: len(network.sales_at_central("kiosk-up")) == 5, 30,
                 "every sale, before and after the upgrade, at central")
    assert sorted(s["uuid"] for s in network.sales_at_central("kiosk-up")) == sorted(
        first + later)
    network.wait(lambda: agent.status()["outbox_pending"] == 0, 30, "every sale acknowledged")

    def zone() -> str | None:
        with sqlite3.connect(agent.database) as conn:
            row = conn.execute("SELECT time_zone FROM store_info").fetchone()
        conn.close()
        return None if row is None else str(row[0])

    network.wait(lambda: zone() == "Europe/Rome", 30, "the store's record again, with its zone")
    network.check()
