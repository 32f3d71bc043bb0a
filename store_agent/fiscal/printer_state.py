"""The fiscal printer's state as the cashier needs it: can it print, and if not, why.

The status bar of every till polls this; the device is asked at most every
``max_age`` seconds, and never while it is printing a receipt (the fiscaliser holds the
device then, and the last answer is given instead).
"""

from __future__ import annotations

import threading
import time
from typing import Any

from store_agent.fiscal.device import FiscalError
from store_agent.fiscal.fiscaliser import Fiscaliser


class PrinterState:
    """Cached device status plus the first unfinished fiscal job's error."""

    def __init__(self, fiscal: Fiscaliser, max_age: float = 2.0) -> None:
        self.fiscal = fiscal
        self.max_age = max_age
        self._lock = threading.Lock()
        self._last: dict[str, Any] = {"state": "unknown", "messages": []}
        self._at = float("-inf")

    def state(self) -> dict[str, Any]:
        """``{"state": ok|warning|error|offline|busy|unknown, "messages": [...]}``."""
        with self._lock:
            if time.monotonic() - self._at >= self.max_age:
                self._last = self._ask()
                self._at = time.monotonic()
            last = dict(self._last)
        waiting = self.fiscal.pending()
        if waiting and waiting[0].error:
            last["messages"] = [*last["messages"], waiting[0].error]
            if last["state"] in ("ok", "warning", "busy"):
                last["state"] = "error"
        return last

    def _ask(self) -> dict[str, Any]:
        if not self.fiscal.lock.acquire(timeout=0.2):
            return {"state": "busy", "messages": []}
        try:
            status = self.fiscal.device.status()
        except FiscalError as exc:
            return {"state": "offline", "messages": [f"printer not answering: {exc}"]}
        except OSError as exc:
            return {"state": "offline", "messages": [f"printer not answering: {exc}"]}
        finally:
            self.fiscal.lock.release()
        if status.errors:
            return {"state": "error", "messages": list(status.errors)}
        if status.warnings:
            return {"state": "warning", "messages": list(status.warnings)}
        return {"state": "ok", "messages": []}
