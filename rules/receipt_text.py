"""The text receipt as the customer gets it (SPEC S3): the header head office configured,
the store, the sale's lines, adjustments, totals, VAT and payments, then the footer.

Pure: the store agent prints and e-mails it (``store_agent.pos.receipts``), central's console
previews a receipt profile with it, so both show the same lines.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

WIDTH = 40


def local_time(moment: str, zone: dt.tzinfo) -> str:
    """A stored (UTC, ISO) moment as the store's wall-clock time for a receipt."""
    return dt.datetime.fromisoformat(moment).astimezone(zone).strftime("%Y-%m-%d %H:%M")


def _row(left: str, right: str, width: int = WIDTH) -> str:
    room = max(width - len(right) - 1, 1)
    return f"{left[:room]:<{room}} {right}"


def loyalty_lines(sale: Mapping[str, Any]) -> list[str]:
    """The sale's points, for the receipt's trailer (none without a loyalty side): what it
    earned (provisional: head office books the points), what a gift spent, and the balance
    the store knew after it."""
    side = sale.get("loyalty")
    if not side:
        return []
    lines = [f"Points earned: {Decimal(side.get('points') or '0').normalize():f}"]
    spent = sum((Decimal(g["points"]) for g in side.get("gifts") or ()), Decimal(0))
    if spent:
        lines.append(f"Points spent: {spent.normalize():f}")
    if side.get("balance") is not None:
        lines.append(f"Points balance: {Decimal(side['balance']).normalize():f}")
    return lines


def render_text(sale: Mapping[str, Any], profile: Mapping[str, Any],
                store_name: str | None, zone: dt.tzinfo, width: int = WIDTH) -> list[str]:
    """The receipt as lines of at most ``width`` characters, times in the store's ``zone``."""
    lines = [line.center(width).rstrip() for line in profile.get("header") or []]
    lines += [(store_name or sale["store"]).center(width).rstrip(),
              _row(f"Receipt {sale['number']}", local_time(sale["created_at"], zone)), ""]
    for line in sale["lines"]:
        qty, unit = Decimal(line["qty"]), Decimal(line["unit_price"])
        lines.append(str(line.get("name") or line["sku"])[:width])
        lines.append(_row(f"  {qty.normalize()} x {unit}", str(line["gross"])))
        for adjustment in line.get("adjustments") or []:
            lines.append(_row(f"  {adjustment['reason'] or adjustment['kind']}",
                              f"-{adjustment['amount']}"))
    lines += ["-" * width, _row("TOTAL", str(sale["total"]))]
    if Decimal(sale.get("discount") or "0"):
        lines.append(_row("of which discounts", str(sale["discount"])))
    for part in sale.get("vat") or []:
        lines.append(_row(f"VAT {Decimal(part['rate']).normalize()}% on {part['gross']}",
                          str(part["vat"])))
    for payment in sale.get("payments") or []:
        lines.append(_row(str(payment["method"]).capitalize(), str(payment["amount"])))
    if Decimal(sale.get("change") or "0"):
        lines.append(_row("Change", str(sale["change"])))
    points = loyalty_lines(sale)
    if points:
        lines += [""] + [line[:width] for line in points]
    footer = [line.center(width).rstrip() for line in profile.get("footer") or []]
    return lines + ([""] + footer if footer else [])
