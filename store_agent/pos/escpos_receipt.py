"""Non-fiscal paper receipts on an ESC/POS printer (python-escpos): network, serial or file.

Where no fiscal printer prints the customer's receipt (countries with the software fiscal
journal), or for a second copy, the agent prints the text receipt of ``store_agent.pos.receipts``
with the logo, header and footer head office configured. Printing is not fiscal: a failure is
reported to the till and the receipt can be printed again; the sale stands either way.
"""

from __future__ import annotations

import base64
import io
import logging
import socket
from collections.abc import Mapping
from typing import Any

from store_agent.settings import ReceiptPrinterSettings

log = logging.getLogger(__name__)


class ReceiptPrinterError(RuntimeError):
    """The receipt printer could not be reached or refused the job."""


def _open(settings: ReceiptPrinterSettings) -> Any:
    from escpos import printer

    if settings.kind == "tcp":
        host, _, port = settings.address.rpartition(":")
        # python-escpos leaks its socket when the connection fails: find out first.
        with socket.create_connection((host, int(port)), timeout=settings.timeout):
            pass
        device: Any = printer.Network(host, int(port), timeout=settings.timeout)
    elif settings.kind == "serial":
        device = printer.Serial(settings.address, baudrate=settings.baudrate,
                                timeout=settings.timeout)
    else:
        device = printer.File(settings.address)
    device.open()
    return device


def print_receipt(settings: ReceiptPrinterSettings, lines: list[str],
                  profile: Mapping[str, Any]) -> None:
    """Print ``lines`` (header and footer already in them), the logo on top, then cut."""
    try:
        device = _open(settings)
    except Exception as exc:  # noqa: BLE001 - python-escpos raises many kinds
        raise ReceiptPrinterError(f"receipt printer {settings.address}: {exc}") from exc
    try:
        device.hw("INIT")
        logo = profile.get("logo_png")
        if logo:
            try:
                from PIL import Image

                device.set(align="center")
                device.image(Image.open(io.BytesIO(base64.b64decode(logo))))
            except Exception as exc:  # noqa: BLE001 - a bad logo must not stop the receipt
                log.warning("receipt logo not printed: %s", exc)
        device.set(align="left")
        for line in lines:
            device.textln(line)
        device.ln(2)
        device.cut()
    except Exception as exc:  # noqa: BLE001
        raise ReceiptPrinterError(f"receipt printer {settings.address}: {exc}") from exc
    finally:
        try:
            device.close()
        except Exception:  # noqa: BLE001, S110 - closing a dead link
            pass
