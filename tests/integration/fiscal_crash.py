"""A real process fiscalising one sale through the agent's code, killed (SIGKILL) at a chosen
step of the receipt: the crash half of the crash matrix, for any fiscal device URL."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]

# Before the first byte, after open, after each of three lines, after payment, after close
# (before the agent records the receipt).
KILL_POINTS = ["before-first-byte", "opened-1", "line-1", "line-2", "line-3", "paid-1",
               "closed-1"]

CHILD = textwrap.dedent("""
    import datetime as dt, json, os, signal, sys
    from pathlib import Path
    from store_agent.fiscal.factory import open_device
    from store_agent.fiscal.fiscaliser import Fiscaliser
    from store_agent.settings import load_printer
    from store_agent.sqlite_store import LocalStore

    workdir, url, kill_at, sale = Path(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
    device = open_device(load_printer({"TESSERA_PRINTER_URL": url,
                                       "TESSERA_AGENT_CONFIG": str(workdir / "none.env")}))
    real_print = device.print_receipt

    def print_receipt(receipt, sale_id, progress=None):
        if kill_at == "before-first-byte":
            os.kill(os.getpid(), signal.SIGKILL)
        def wrapped(step, index):
            if progress is not None:
                progress(step, index)
            if kill_at == f"{step.value}-{index}":
                os.kill(os.getpid(), signal.SIGKILL)  # kill -9: no cleanup at all
        return real_print(receipt, sale_id, wrapped)

    device.print_receipt = print_receipt
    store = LocalStore(workdir / "agent.db")
    fiscal = Fiscaliser(store, device)
    body = json.loads(sale)
    with store.write() as conn:
        fiscal.enqueue(conn, body["uuid"], fiscal.prepare(body), dt.datetime.now(dt.UTC))
    fiscal.fiscalise(body["uuid"])
""")


def kill_while_fiscalising(workdir: Path, printer_url: str, kill_at: str,
                           sale: dict[str, Any]) -> None:
    """Fiscalise ``sale`` in a child process that dies at ``kill_at``; check it did."""
    child = subprocess.run([sys.executable, "-c", CHILD, str(workdir), printer_url, kill_at,
                            json.dumps(sale)], cwd=ROOT,
                           env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True,
                           text=True, timeout=60)
    assert child.returncode == -9, child.stderr  # it really died at that step
