"""The fiscal device interface: what the agent asks of any fiscal printer, in plain values.

Drivers (Datecs, later RT and the software journal) implement :class:`FiscalDevice`. Money
is ``Decimal``; VAT groups are the letters ``A``..``H`` whatever the device calls them.

Exactly-once fiscalisation rests on three things every driver offers:
:meth:`FiscalDevice.transaction_state` (is a receipt open, how many lines, how much is due
and tendered), :meth:`FiscalDevice.last_document` (a counter that moves once per document),
and the ``progress`` callback of :meth:`FiscalDevice.print_receipt`, which reports each step
the device has confirmed so that the caller can journal it before the next step starts.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Protocol

from rules.money import round_money

VAT_GROUPS = ("A", "B", "C", "D", "E", "F", "G", "H")
ZERO = Decimal("0.00")


# -- errors --------------------------------------------------------------------------------

class FiscalError(Exception):
    """Anything that went wrong talking to a fiscal device."""


class DeviceUnavailable(FiscalError):
    """No valid answer (link down, timeouts, device busy too long).

    The outcome of the last command is unknown: run recovery (transaction state + last
    document) before going on, never replay blindly.
    """


class CommandRejected(FiscalError):
    """The device answered and refused the command; its state did not change."""

    def __init__(self, command: int, reason: str, status: DeviceStatus,
                 code: int | None = None) -> None:
        self.command = command
        self.reason = reason
        self.status = status
        self.code = code
        detail = f" (device code {code})" if code else ""
        super().__init__(f"command {command:#04x} refused: {reason}{detail}")


class PaperOut(CommandRejected):
    """Refused because the paper ran out: replace the roll, then resume (never cancel)."""


class ReceiptOpen(FiscalError):
    """A receipt is already open on the device: recovery has to decide what to do with it."""


class RecoveryConflict(FiscalError):
    """The open receipt on the device does not match the sale being resumed."""


# -- status --------------------------------------------------------------------------------

class Severity(enum.Enum):
    ERROR = "error"
    WARNING = "warning"
    STATE = "state"


class StatusFlag(enum.Enum):
    """One decoded status bit, with the message an operator understands."""

    SYNTAX_ERROR = ("syntax error in the command", Severity.ERROR)
    INVALID_COMMAND = ("unknown command", Severity.ERROR)
    CLOCK_NOT_SET = ("the clock is not set", Severity.ERROR)
    NO_DISPLAY = ("no customer display connected", Severity.STATE)
    PRINTER_FAULT = ("print mechanism fault", Severity.ERROR)
    GENERAL_ERROR = ("general error", Severity.ERROR)
    COVER_OPEN = ("the printer cover is open", Severity.ERROR)
    OVERFLOW = ("an amount overflowed", Severity.ERROR)
    NOT_ALLOWED = ("command not allowed in this mode", Severity.ERROR)
    RAM_RESET = ("the memory was reset", Severity.ERROR)
    LOW_BATTERY = ("clock battery low", Severity.ERROR)
    REFUND_OPEN = ("a refund receipt is open", Severity.STATE)
    PAPER_OUT = ("out of paper", Severity.ERROR)
    PAPER_NEAR_END = ("paper nearly out", Severity.WARNING)
    EJ_FULL = ("electronic journal full", Severity.ERROR)
    RECEIPT_OPEN = ("a fiscal receipt is open", Severity.STATE)
    EJ_NEAR_FULL = ("electronic journal nearly full", Severity.WARNING)
    NONFISCAL_OPEN = ("a non-fiscal receipt is open", Severity.STATE)
    FM_WRITE_ERROR = ("fiscal memory write error", Severity.ERROR)
    FM_NEAR_FULL = ("fiscal memory nearly full", Severity.WARNING)
    FM_FULL = ("fiscal memory full", Severity.ERROR)
    FM_ERROR = ("fiscal memory error", Severity.ERROR)
    FM_READ_ONLY = ("fiscal memory read-only (locked)", Severity.ERROR)
    FISCALISED = ("the device is fiscalised", Severity.STATE)
    VAT_RATES_SET = ("VAT rates are set", Severity.STATE)
    TAX_TERMINAL = ("the built-in tax terminal does not answer", Severity.ERROR)
    HEAD_OVERHEATED = ("the printing head is overheated", Severity.ERROR)
    UNSENT_DOCUMENTS = ("documents not sent to the tax authority for too long",
                        Severity.WARNING)

    @property
    def message(self) -> str:
        return str(self.value[0])

    @property
    def severity(self) -> Severity:
        severity: Severity = self.value[1]
        return severity


COMMAND_ERRORS = frozenset({StatusFlag.SYNTAX_ERROR, StatusFlag.INVALID_COMMAND,
                            StatusFlag.OVERFLOW, StatusFlag.NOT_ALLOWED})
"""Flags that describe the command just sent, not a lasting condition of the device."""

PRINT_BLOCKERS = frozenset({StatusFlag.PAPER_OUT, StatusFlag.COVER_OPEN,
                            StatusFlag.PRINTER_FAULT, StatusFlag.EJ_FULL, StatusFlag.FM_FULL,
                            StatusFlag.FM_ERROR, StatusFlag.FM_READ_ONLY})
"""Conditions under which the device refuses anything that prints."""


@dataclass(frozen=True)
class DeviceStatus:
    flags: frozenset[StatusFlag]
    raw: bytes = b""

    def __contains__(self, flag: object) -> bool:
        return flag in self.flags

    @property
    def errors(self) -> tuple[str, ...]:
        return self._messages(Severity.ERROR)

    @property
    def warnings(self) -> tuple[str, ...]:
        return self._messages(Severity.WARNING)

    @property
    def paper_out(self) -> bool:
        return StatusFlag.PAPER_OUT in self.flags

    @property
    def cover_open(self) -> bool:
        return StatusFlag.COVER_OPEN in self.flags

    @property
    def receipt_open(self) -> bool:
        return bool({StatusFlag.RECEIPT_OPEN, StatusFlag.REFUND_OPEN} & self.flags)

    @property
    def nonfiscal_open(self) -> bool:
        return StatusFlag.NONFISCAL_OPEN in self.flags

    @property
    def can_print(self) -> bool:
        return not PRINT_BLOCKERS & self.flags

    def _messages(self, severity: Severity) -> tuple[str, ...]:
        return tuple(f.message for f in StatusFlag if f in self.flags and f.severity == severity
                     and f is not StatusFlag.GENERAL_ERROR)


# -- values ----------------------------------------------------------------------------------

class PaymentMethod(enum.Enum):
    CASH = "cash"
    CARD = "card"
    CHEQUE = "cheque"
    CREDIT = "credit"


class RefundReason(enum.Enum):
    OPERATOR_ERROR = "operator-error"
    REFUND = "refund"
    TAX_BASE_REDUCTION = "tax-base-reduction"


class ReceiptStep(enum.Enum):
    """A step of a receipt that the device has confirmed (the caller journals it)."""

    OPENED = "opened"
    LINE = "line"
    TEXT = "text"
    PAID = "paid"
    CLOSED = "closed"


Progress = Callable[[ReceiptStep, int], None]
"""Called with the step and its index (line number from 1, payment number from 1)."""


def _check_group(group: str) -> None:
    if group not in VAT_GROUPS:
        raise ValueError(f"VAT group must be one of {''.join(VAT_GROUPS)}, not {group!r}")


@dataclass(frozen=True)
class FiscalLine:
    name: str
    quantity: Decimal
    unit_price: Decimal
    vat_group: str
    discount: Decimal = ZERO
    """An amount taken off this line (not a percentage)."""

    def __post_init__(self) -> None:
        _check_group(self.vat_group)
        if self.quantity <= 0 or self.unit_price < 0 or self.discount < 0:
            raise ValueError(f"line {self.name!r}: quantity must be positive, price and "
                             "discount not negative")
        if self.discount > self.gross:
            raise ValueError(f"line {self.name!r}: discount exceeds the line amount")

    @property
    def gross(self) -> Decimal:
        return round_money(self.unit_price * self.quantity)

    @property
    def total(self) -> Decimal:
        """What the device adds to the receipt: price x quantity, rounded, less discount."""
        return round_money(self.gross - self.discount)


@dataclass(frozen=True)
class Payment:
    method: PaymentMethod
    amount: Decimal

    def __post_init__(self) -> None:
        if self.amount <= 0:
            raise ValueError("a payment must be positive")


@dataclass(frozen=True)
class FiscalReceipt:
    lines: tuple[FiscalLine, ...]
    payments: tuple[Payment, ...]
    texts: tuple[str, ...] = ()
    """Free text printed inside the fiscal receipt, after the lines."""

    def __post_init__(self) -> None:
        if not self.lines:
            raise ValueError("a receipt needs at least one line")
        if sum((p.amount for p in self.payments), ZERO) < self.total:
            raise ValueError(f"payments do not cover the total {self.total}")

    @property
    def total(self) -> Decimal:
        return sum((line.total for line in self.lines), ZERO)


@dataclass(frozen=True)
class RefundReceipt:
    lines: tuple[FiscalLine, ...]
    payments: tuple[Payment, ...]
    original_number: int
    original_time: datetime
    fiscal_memory: str
    reason: RefundReason = RefundReason.REFUND
    original_unp: str = ""
    """The original receipt's unique sale number (Bulgaria's UNP / NSale), when it had one."""

    def __post_init__(self) -> None:
        FiscalReceipt(self.lines, self.payments)   # the same checks

    @property
    def total(self) -> Decimal:
        return sum((line.total for line in self.lines), ZERO)


@dataclass(frozen=True)
class ReceiptResult:
    sale_id: str
    document_number: int
    """The device's document counter for this receipt (what :meth:`last_document` reads)."""
    receipt_number: int
    """The fiscal receipt (slip) number printed on the receipt."""
    amount: Decimal


@dataclass(frozen=True)
class DeviceInfo:
    model: str
    firmware: str
    serial: str
    fiscal_memory: str
    dialect: str


@dataclass(frozen=True)
class TxState:
    """The current receipt, or the last one when none is open (Datecs 76)."""

    open: bool
    items: int
    amount: Decimal
    tendered: Decimal

    @property
    def due(self) -> Decimal:
        return max(self.amount - self.tendered, ZERO)


@dataclass(frozen=True)
class DocRef:
    number: int
    z_number: int | None = None


@dataclass(frozen=True)
class ReportTotals:
    """Turnover per VAT group of an X or Z report (a Z also resets them)."""

    number: int
    totals: Mapping[str, Decimal]
    refund_totals: Mapping[str, Decimal] = field(default_factory=dict)

    @property
    def total(self) -> Decimal:
        return sum(self.totals.values(), ZERO)


@dataclass(frozen=True)
class Plu:
    number: int
    name: str
    price: Decimal
    vat_group: str
    group: int = 1

    def __post_init__(self) -> None:
        _check_group(self.vat_group)


@dataclass(frozen=True)
class SyncReport:
    programmed: tuple[int, ...]
    refused: tuple[tuple[int, str], ...]


# -- the interface ---------------------------------------------------------------------------

class FiscalDevice(Protocol):
    capabilities: frozenset[str]
    """Optional features: ``plu``, ``vat_read``, ``display``, ``duplicate``, ``refund``."""

    def info(self) -> DeviceInfo: ...

    def status(self) -> DeviceStatus: ...

    def transaction_state(self) -> TxState: ...

    def last_document(self) -> DocRef: ...

    def print_receipt(self, receipt: FiscalReceipt, sale_id: str,
                      progress: Progress | None = None) -> ReceiptResult:
        """Open, sell, pay, close. Refuses with :class:`ReceiptOpen` if one is open."""
        ...

    def resume_receipt(self, receipt: FiscalReceipt, sale_id: str,
                       progress: Progress | None = None) -> ReceiptResult:
        """Finish the open receipt of ``receipt``: the lines and payments still missing."""
        ...

    def cancel_open_receipt(self) -> None:
        """Cancel the open receipt (only possible before the first payment)."""
        ...

    def print_refund(self, refund: RefundReceipt, sale_id: str) -> ReceiptResult: ...

    def print_duplicate(self) -> None:
        """Reprint the last receipt as a marked duplicate (never a second fiscal one)."""
        ...

    def print_nonfiscal(self, lines: list[str]) -> None: ...

    def x_report(self) -> ReportTotals: ...

    def z_report(self) -> ReportTotals: ...

    def get_clock(self) -> datetime: ...

    def set_clock(self, moment: datetime) -> None: ...

    def read_vat_rates(self) -> dict[str, Decimal]: ...

    def sync_plu(self, items: list[Plu]) -> SyncReport: ...

    def display(self, upper: str, lower: str = "") -> None: ...

    def close(self) -> None: ...
