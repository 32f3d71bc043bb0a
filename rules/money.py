"""Money: Decimal only, rounded half-up to the cent in exactly one place."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

CENT = Decimal("0.01")


class MoneyError(ValueError):
    """A value that is not a valid amount of money."""


def to_decimal(value: object, what: str = "amount") -> Decimal:
    """Read a Decimal from a str/int/Decimal; floats are refused, never guessed."""
    if isinstance(value, bool) or isinstance(value, float):
        raise MoneyError(f"{what} must be a decimal string, not {type(value).__name__}")
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, (int, str)):
        try:
            result = Decimal(value)
        except InvalidOperation as exc:
            raise MoneyError(f"{what} is not a number: {value!r}") from exc
    else:
        raise MoneyError(f"{what} must be a decimal string, not {type(value).__name__}")
    if not result.is_finite():
        raise MoneyError(f"{what} is not a finite number: {value!r}")
    return result


def round_money(value: Decimal) -> Decimal:
    """Round to the cent, half-up (the one rounding rule of the engine)."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP)
