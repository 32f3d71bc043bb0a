"""What the loyalty rules refuse, each naming what was wrong."""

from __future__ import annotations

from decimal import Decimal


class LoyaltyError(ValueError):
    """Anything the loyalty rules refuse."""


class InvalidPolicy(LoyaltyError):
    """A profile, accrual option, band or level that cannot be used; ``field`` names it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class GiftRefused(LoyaltyError):
    """A gift the customer cannot take now; ``reason`` says why, for the till."""

    def __init__(self, sku: str, reason: str) -> None:
        super().__init__(f"gift {sku!r} refused: {reason}")
        self.sku = sku
        self.reason = reason


class LedgerError(LoyaltyError):
    """An entry the ledger cannot take (a conflicting replay, a reversal of nothing...)."""


def check_decimal(value: object, field: str, *, minimum: Decimal | None = None,
                  maximum: Decimal | None = None, positive: bool = False,
                  whole: bool = False) -> Decimal:
    """``value`` as a finite Decimal within bounds, or :class:`InvalidPolicy` naming ``field``.

    Floats are refused (money and points are never binary fractions).
    """
    if not isinstance(value, Decimal) or not value.is_finite():
        raise InvalidPolicy(field, f"must be a finite decimal, not {value!r}")
    if positive and value <= 0:
        raise InvalidPolicy(field, f"must be above 0, not {value}")
    if minimum is not None and value < minimum:
        raise InvalidPolicy(field, f"must be at least {minimum}, not {value}")
    if maximum is not None and value > maximum:
        raise InvalidPolicy(field, f"must be at most {maximum}, not {value}")
    if whole and value != value.to_integral_value():
        raise InvalidPolicy(field, f"must be a whole number, not {value}")
    return value


class InvalidEntry(LedgerError):
    """A ledger entry that is malformed in itself; ``field`` names what is wrong."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message
