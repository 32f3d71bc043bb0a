"""The POS API's request threads keep a small SQLite page cache each.

There are 16 of them, each with its own connection: at SQLite's default of ~2 MB each, a
status count (a scan of the products) left 32 MB of pages in the agent (the agent RSS
figure of ``make bench``).
"""

from __future__ import annotations

import threading
from pathlib import Path

from store_agent.pos.api import REQUEST_CACHE_KIB, create_app
from store_agent.sqlite_store import LocalStore
from store_agent.sync.replica import Replica


def cache_kib(store: LocalStore) -> int:
    return -int(store.connection().execute("PRAGMA cache_size").fetchone()[0])


def test_limit_applies_to_this_threads_connection_only(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "agent.db")
    default = cache_kib(store)
    seen: list[int] = []

    def other() -> None:
        store.limit_cache(128)
        seen.append(cache_kib(store))
        with store.write() as conn:  # the connection works as before
            store.set_meta(conn, "probe", "1")

    thread = threading.Thread(target=other)
    thread.start()
    thread.join()
    assert seen == [128]
    assert cache_kib(store) == default != 128
    assert store.meta("probe") == "1"


def test_every_pos_request_runs_with_the_small_cache(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "agent.db")
    assert cache_kib(store) != REQUEST_CACHE_KIB
    client = create_app(store, Replica(store), "kiosk-1", lambda: {}).test_client()
    assert client.get("/pos/v1/products/nope").status_code == 404
    assert cache_kib(store) == REQUEST_CACHE_KIB  # the test client serves in this thread
