"""The agent's SQLite connections give their page cache back where threads wait between uses.

The POS API runs 16 request threads, each with its own connection: without this, each kept
up to ~2 MB of pages after a status count (the agent RSS figure of ``make bench``).
"""

from __future__ import annotations

import threading
from pathlib import Path

from store_agent.pos.api import create_app
from store_agent.sqlite_store import LocalStore
from store_agent.sync.replica import Replica


class CountingStore(LocalStore):
    """A real store that also counts the releases asked of it."""

    released = 0

    def release_memory(self) -> None:
        self.released += 1
        super().release_memory()


def test_release_outside_and_inside_a_transaction_keeps_the_data(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "agent.db")
    with store.write() as conn:
        store.set_meta(conn, "probe", "1")
    store.release_memory()
    with store.read() as conn:
        store.release_memory()  # inside a transaction: left alone, the read goes on
        assert conn.in_transaction
        assert store.get_meta(conn, "probe") == "1"
    assert store.meta("probe") == "1"


def test_release_in_a_thread_without_a_connection_opens_none(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "agent.db")
    opened: list[object] = []

    def other() -> None:
        store.release_memory()
        opened.append(getattr(store._local, "conn", None))  # noqa: SLF001

    thread = threading.Thread(target=other)
    thread.start()
    thread.join()
    assert opened == [None]


def test_every_pos_request_releases_its_threads_cache(tmp_path: Path) -> None:
    store = CountingStore(tmp_path / "agent.db")
    client = create_app(store, Replica(store), "kiosk-1", lambda: {}).test_client()
    assert client.get("/pos/v1/products/nope").status_code == 404
    assert client.get("/pos/v1/products/nope").status_code == 404
    assert store.released == 2
