"""Opens the fiscal device of ``TESSERA_PRINTER_URL``; reconnects after the line drops.

A printer switched off when the agent starts, or unplugged later, must not stop the agent:
:class:`Reconnecting` connects on first use and again after :class:`DeviceUnavailable`,
so the fiscaliser sees an unavailable device (and refuses new sales) until it is back.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any, cast
from zoneinfo import ZoneInfo

from store_agent.fiscal.device import DeviceUnavailable, FiscalDevice, FiscalError
from store_agent.settings import PrinterSettings


def open_device(printer: PrinterSettings) -> FiscalDevice:
    """Connect now; raises FiscalError when the device does not answer."""
    if printer.driver == "journal":
        from store_agent.fiscal.journal import SoftwareJournal

        return SoftwareJournal(Path(printer.address),
                               vat_rates={g: Decimal(r) for g, r in printer.vat_rates})
    if printer.driver == "rt":
        from store_agent.fiscal.rt import open_rt

        return open_rt(printer.address, tz=ZoneInfo(printer.timezone))
    from store_agent.fiscal.datecs import connect, open_transport

    transport = open_transport(printer.transport, printer.address, printer.baudrate)
    try:
        return connect(transport, printer.dialect, tz=ZoneInfo(printer.timezone))
    except BaseException:
        transport.close()
        raise


class Reconnecting:
    """A FiscalDevice that (re)connects lazily. Calls are serialised by the caller."""

    def __init__(self, opener: Callable[[], FiscalDevice]) -> None:
        self._opener = opener
        self._device: FiscalDevice | None = None
        self._lock = threading.Lock()

    def _get(self) -> FiscalDevice:
        with self._lock:
            if self._device is None:
                try:
                    self._device = self._opener()
                except DeviceUnavailable:
                    raise
                except (FiscalError, OSError) as exc:
                    raise DeviceUnavailable(f"cannot connect to the printer: {exc}") from exc
            return self._device

    def _drop(self) -> None:
        with self._lock:
            device, self._device = self._device, None
        if device is not None:
            try:
                device.close()
            except (FiscalError, OSError):
                pass

    def __getattr__(self, name: str) -> Any:
        if name == "capabilities":
            return self._get().capabilities
        attribute = getattr(self._get(), name)
        if not callable(attribute) or name == "close":
            return attribute if name != "close" else self._drop

        def call(*args: Any, **kwargs: Any) -> Any:
            try:
                return attribute(*args, **kwargs)
            except DeviceUnavailable:
                self._drop()
                raise
            except OSError as exc:
                self._drop()
                raise DeviceUnavailable(str(exc)) from exc

        return call


def reconnecting(printer: PrinterSettings) -> FiscalDevice:
    return cast(FiscalDevice, Reconnecting(lambda: open_device(printer)))
