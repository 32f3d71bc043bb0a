"""The three Datecs device families and what differs between them, command by command.

Datecs publishes one programmer's manual per family; the model name a device gives in
command 90 decides which one applies (see docs/fiscal-datecs.md for the page references):

- ``x``: FMP-350X, FMP-55X, FP-700X, WP-500X, WP-50X, DP-25X, DP-150X. Manual "FP protocol"
  v2.02 (X framing, TAB-terminated parameters).
- ``printer``: FP-800, FP-2000, FP-650, SK1-21F, SK1-31F, FMP-10, FP-550. Manual "Fiscal
  printer programming interface" v1.00BG (1-byte framing, comma-separated).
- ``register``: the cash registers DP-05, DP-25, DP-35, WP-50, DP-150. Manual "Програмен
  интерфейс на каси" v2.04BG (1-byte framing, comma-separated, other layouts than the
  printers in 46, 48, 49, 53, 54, 90 and 107).

A model that is in none of the lists is refused (:class:`UnsupportedModel`): guessing the
family would print under wrong layouts.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from store_agent.fiscal.datecs_codec import Dialect
from store_agent.fiscal.device import VAT_GROUPS, FiscalError, PaymentMethod


class Family(enum.Enum):
    X = "x"
    PRINTER = "printer"
    REGISTER = "register"

    @property
    def dialect(self) -> Dialect:
        return Dialect.X if self is Family.X else Dialect.BYTE

    @property
    def label(self) -> str:
        return FAMILY_LABELS[self]

    @classmethod
    def parse(cls, text: str) -> Family:
        """``x``, ``printer`` or ``register``; ``byte`` (the older name) means ``printer``."""
        return cls.PRINTER if text == "byte" else cls(text)


FAMILY_LABELS = {Family.X: "Datecs X (FP-700X, DP-25X, WP-50X ...)",
                 Family.PRINTER: "Datecs fiscal printers (FP-550, FP-2000, FP-800 ...)",
                 Family.REGISTER: "Datecs cash registers (DP-05, DP-25, DP-35, WP-50, DP-150)"}


@dataclass(frozen=True)
class Model:
    name: str
    family: Family
    item_name: int
    """Characters of an item name in a sale (49) or in the PLU table (107)."""
    text: int
    """Characters of a free text line in a fiscal (54) or non-fiscal (42) receipt."""
    plu_name: int
    plu_groups: int
    """Highest stock group a PLU may have (107 'P')."""
    display: bool = True
    nonfiscal_text: int = 0
    """Characters of a non-fiscal text line (42), when not the same as :attr:`text`."""

    @property
    def service_text(self) -> int:
        return self.nonfiscal_text or self.text


def _x(name: str, columns: int = 42, display: bool = True) -> Model:
    # X manual, 49: PluName up to 72; 42/54: text up to PrintColumns-2 (255 "PrintColumns":
    # 42, 48 or 64 on FP-700X/FMP-350X, 32 on FMP-55X, 42 on the others); 107: name up to 72,
    # stock group 1..99; 33/35/47 "not used on FMP-350X and FMP-55X".
    return Model(name, Family.X, 72, columns - 2, 72, 99, display)


def _printer(name: str) -> Model:
    # Printers manual, 49: L1 up to 42 bytes; 54/42: '#' printed at both ends, only what fits
    # the line is used; 107: name up to 36, group 1..99.
    return Model(name, Family.PRINTER, 42, 40, 36, 99)


def _register(name: str) -> Model:
    # Cash registers manual, 49: L1 up to 22 bytes; 54: text up to 36; 42: up to 40;
    # 107: name up to 22, stock group 1..9.
    return Model(name, Family.REGISTER, 22, 36, 22, 9, nonfiscal_text=40)


MODELS: dict[str, Model] = {m.name: m for m in (
    _x("FP-700X"), _x("FMP-350X", display=False), _x("FMP-55X", 32, display=False),
    _x("WP-500X"), _x("WP-50X"), _x("DP-25X"), _x("DP-150X"),
    _printer("FP-800"), _printer("FP-2000"), _printer("FP-650"), _printer("SK1-21F"),
    _printer("SK1-31F"), _printer("FMP-10"), _printer("FP-550"),
    _register("DP-05"), _register("DP-25"), _register("DP-35"), _register("WP-50"),
    _register("DP-150"),
)}


class UnsupportedModel(FiscalError):
    """Command 90 named a model that is in none of the three manuals."""


def model_of(name: str) -> tuple[Model, str]:
    """The model a command-90 name starts with (longest match) and what follows it.

    The cash registers' manual writes ``<Name><FwRev>`` with no separator, so the name may
    run straight into the firmware version; a letter right after the match is a different
    model (``DP-25`` + ``X`` is the X family's DP-25X).
    """
    text = name.strip().upper()
    for known in sorted(MODELS, key=len, reverse=True):
        if text.startswith(known) and not text[len(known):len(known) + 1].isalpha():
            return MODELS[known], name.strip()[len(known):].strip()
    raise UnsupportedModel(
        f"the Datecs device calls itself {name.strip()!r}, a model none of the driver's "
        f"manuals covers; supported: {', '.join(MODELS)}")


# -- what each family's manual lists (and what the driver may send) ----------------------------

MANUAL_COMMANDS: dict[Family, frozenset[int]] = {
    # X manual v2.02, table of contents (pp. 2-3).
    Family.X: frozenset({33, 35, 38, 39, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, 53, 54, 55,
                         56, 57, 58, 60, 61, 62, 63, 64, 65, 66, 68, 69, 70, 71, 72, 74, 76,
                         80, 83, 84, 86, 87, 88, 89, 90, 91, 92, 94, 95, 98, 99, 100, 101,
                         103, 105, 106, 107, 109, 110, 111, 112, 116, 123, 124, 125, 127,
                         135, 202, 203, 255}),
    # Printers manual v1.00BG: command list (pp. 9-10) and the command headings (pp. 11-37).
    Family.PRINTER: frozenset({32, 33, 34, 35, 36, 37, 38, 39, 41, 42, 43, 44, 45, 46, 47,
                               48, 49, 50, 51, 52, 53, 54, 56, 57, 58, 60, 61, 62, 63, 64,
                               65, 66, 68, 69, 70, 71, 72, 73, 74, 75, 76, 79, 80, 81, 83,
                               84, 85, 86, 87, 88, 89, 90, 91, 92, 93, 94, 95, 97, 98, 99,
                               100, 101, 102, 103, 105, 106, 107, 108, 109, 110, 111, 112,
                               113, 114, 115, 116, 117, 118, 119, 121, 122, 123, 124, 128,
                               133, 134, 135, 144}),
    # Cash registers manual v2.04BG: command list (pp. 6-7) and the headings (pp. 8-30).
    Family.REGISTER: frozenset({33, 35, 38, 39, 42, 43, 44, 46, 47, 48, 49, 50, 51, 52, 53,
                                54, 55, 56, 57, 58, 60, 61, 62, 63, 64, 65, 66, 68, 69, 70,
                                71, 73, 74, 76, 79, 80, 83, 84, 85, 86, 87, 88, 89, 90, 92,
                                94, 95, 97, 98, 99, 100, 101, 102, 103, 105, 106, 107, 108,
                                109, 111, 112, 113, 114, 115, 117, 118, 119, 124, 125, 140,
                                255}),
}


# -- tax groups ----------------------------------------------------------------------------------

CYRILLIC_GROUPS = "АБВГДЕЖЗ"


def tax_code(family: Family, group: str) -> str:
    """The tax group as the family's sale command (49) wants it.

    X: a digit 1-8 (X manual 49, p. 9). Printers: Latin A-H are accepted as input (printers
    manual, "Tax groups", p. 1). Cash registers: the Cyrillic capitals А-З only (registers
    manual, "Данъчни групи", p. 1).
    """
    index = VAT_GROUPS.index(group)
    if family is Family.X:
        return str(index + 1)
    if family is Family.REGISTER:
        return CYRILLIC_GROUPS[index]
    return group


def plu_tax_code(family: Family, group: str) -> str:
    """The tax group in PLU programming (107 'P'): a letter in every family (X manual 107,
    p. 28: "letter 'A'...'H' or cyrillic"); Cyrillic on the cash registers."""
    return CYRILLIC_GROUPS[VAT_GROUPS.index(group)] if family is Family.REGISTER else group


def group_of_code(family: Family, code: str, *, plu: bool = False) -> str | None:
    """The inverse of :func:`tax_code` / :func:`plu_tax_code` as the manual allows it."""
    if family is Family.X and not plu:
        return VAT_GROUPS[int(code) - 1] if code.isdigit() and 1 <= int(code) <= 8 else None
    latin_ok = family is not Family.REGISTER
    if latin_ok and code in VAT_GROUPS:
        return code
    if code and code in CYRILLIC_GROUPS:
        return VAT_GROUPS[CYRILLIC_GROUPS.index(code)]
    return None


# -- payments ------------------------------------------------------------------------------------

PAYMENT_CODES: dict[Family, dict[PaymentMethod, str]] = {
    # X manual 53 (p. 11): 0 cash, 1 credit card, 2 debit card, 3-5 other payments.
    Family.X: {PaymentMethod.CASH: "0", PaymentMethod.CARD: "1", PaymentMethod.CHEQUE: "3",
               PaymentMethod.CREDIT: "4"},
    # Printers manual 53 (p. 19): P cash, N credit, C cheque, D debit card.
    Family.PRINTER: {PaymentMethod.CASH: "P", PaymentMethod.CARD: "D",
                     PaymentMethod.CHEQUE: "C", PaymentMethod.CREDIT: "N"},
    # Registers manual 53 (p. 13): P cash, N credit, C debit card, D health insurance (НЗОК),
    # I voucher, J coupon. There is no cheque.
    Family.REGISTER: {PaymentMethod.CASH: "P", PaymentMethod.CARD: "C",
                      PaymentMethod.CREDIT: "N"},
}

REFUND_REASONS: dict[Family, dict[str, str]] = {
    # X 43 "Storno" and registers 46 "DocType": digits; printers 46 "StType": letters.
    Family.X: {"operator-error": "0", "refund": "1", "tax-base-reduction": "2"},
    Family.REGISTER: {"operator-error": "0", "refund": "1", "tax-base-reduction": "2"},
    Family.PRINTER: {"operator-error": "E", "refund": "R", "tax-base-reduction": "T"},
}


def signed_amount(text: str, decimals: int = 2) -> str:
    """A 1-byte amount as the device sends it in 69 and 76: "with a sign" means a count of
    the smallest unit (``+000001234`` is 12.34); a plain decimal is taken as it is."""
    text = text.strip()
    if text[:1] in "+-" and "." not in text and text[1:].isdigit():
        digits = text[1:].rjust(decimals + 1, "0")
        whole, cents = (digits[:-decimals], digits[-decimals:]) if decimals else (digits, "")
        return f"{'-' if text[0] == '-' else ''}{int(whole)}{'.' + cents if cents else ''}"
    return text


def to_signed(value: str, width: int = 9, decimals: int = 2) -> str:
    """The simulator's side of :func:`signed_amount`: ``12.34`` -> ``+00001234`` (9 bytes)."""
    negative = value.startswith("-")
    whole, _, cents = value.lstrip("+-").partition(".")
    units = int(whole or "0") * 10 ** decimals + int((cents + "00")[:decimals] or "0")
    return ("-" if negative else "+") + str(units).rjust(width - 1, "0")


__all__ = ["MANUAL_COMMANDS", "MODELS", "PAYMENT_CODES", "REFUND_REASONS", "Family", "Model",
           "UnsupportedModel", "group_of_code", "model_of", "plu_tax_code", "signed_amount",
           "tax_code", "to_signed"]
