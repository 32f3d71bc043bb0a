"""Datecs command numbers and the parameter syntax shared by the families.

What differs between the X devices, the printers and the cash registers (tax codes, payment
letters, refund reasons, which commands exist) is in :mod:`.datecs_family`.
"""

from __future__ import annotations

import enum
from decimal import Decimal

from store_agent.fiscal.datecs_codec import Dialect


class Cmd(enum.IntEnum):
    NONFISCAL_OPEN = 0x26
    NONFISCAL_CLOSE = 0x27
    NONFISCAL_TEXT = 0x2A
    REFUND_OPEN_X = 0x2B
    REFUND_OPEN_BYTE = 0x2E
    OPEN = 0x30
    SALE = 0x31
    VAT_X = 0x32
    PAYMENT = 0x35
    TEXT = 0x36
    CLOSE = 0x38
    SELL_PLU = 0x3A
    CANCEL = 0x3C
    SET_CLOCK = 0x3D
    READ_CLOCK = 0x3E
    DISPLAY_CLEAR = 0x21
    DISPLAY_LOWER = 0x23
    DISPLAY_UPPER = 0x2F
    REPORT = 0x45
    STATUS = 0x4A
    TX_STATUS = 0x4C
    VAT_BYTE = 0x53
    INFO = 0x5A
    PLU = 0x6B
    DUPLICATE = 0x6D
    LAST_DOC = 0x71


PRINTING = frozenset({Cmd.NONFISCAL_OPEN, Cmd.NONFISCAL_CLOSE, Cmd.NONFISCAL_TEXT,
                      Cmd.REFUND_OPEN_X, Cmd.REFUND_OPEN_BYTE, Cmd.OPEN, Cmd.SALE,
                      Cmd.PAYMENT, Cmd.TEXT, Cmd.CLOSE, Cmd.SELL_PLU, Cmd.CANCEL, Cmd.REPORT,
                      Cmd.DUPLICATE})
"""Commands that print: refused without any change while the paper is out."""

CLOCK_FORMAT = "%d-%m-%y %H:%M:%S"

X_DST = " DST"
"""X manual, "Command explanations" (p. 5): a date-time ends in the text DST in summer time."""
STORNO_TIME_BYTE = "%d%m%y%H%M%S"
"""Printers 46 "StDT" and cash registers 46 "DocDateTime": DDMMYYhhmmss."""


class XError(enum.IntEnum):
    """X dialect error codes. The first three are documented; the rest are this project's."""

    PAPER_END = -100403
    PLU_HAS_TURNOVER = -103004
    NEED_Z_REPORT = -104000
    SYNTAX = -111001
    INVALID_COMMAND = -111002
    NOT_ALLOWED = -111003
    NOT_PAID = -111004
    CLOCK_BEFORE_LAST_RECORD = -111005
    UNKNOWN_PLU = -111006
    COVER_OPEN = -111007

    @property
    def message(self) -> str:
        return X_MESSAGES.get(self, self.name.lower().replace("_", " "))


X_MESSAGES = {XError.PAPER_END: "out of paper", XError.NEED_Z_REPORT: "a Z report is due",
              XError.NOT_PAID: "the receipt is not fully paid",
              XError.CLOCK_BEFORE_LAST_RECORD: "the clock cannot go before the last Z report",
              XError.COVER_OPEN: "the printer cover is open"}


def join(dialect: Dialect, *values: str) -> str:
    """Parameters as the dialect writes them: comma-separated, or each followed by TAB."""
    if dialect is Dialect.BYTE:
        return ",".join(values)
    return "".join(f"{value}\t" for value in values)


def split(dialect: Dialect, text: str) -> tuple[int | None, list[str]]:
    """An answer's error code (X only) and fields."""
    if dialect is Dialect.BYTE:
        return None, text.split(",") if text else []
    parts = text.split("\t")
    if parts and parts[-1] == "":
        parts.pop()
    if not parts:
        return 0, []
    try:
        code = int(parts[0])
    except ValueError:
        code = None
    return code, parts[1:]


def money(value: Decimal) -> str:
    return f"{value:.2f}"


def quantity(value: Decimal) -> str:
    text = f"{value.quantize(Decimal('0.001')):f}".rstrip("0").rstrip(".")
    return text or "0"


def decimal(text: str) -> Decimal:
    try:
        return Decimal(text.strip().rstrip("%"))
    except ArithmeticError as exc:
        raise ValueError(f"not a number: {text!r}") from exc
