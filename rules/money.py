"""Money: Decimal only, rounded half-up to the cent in exactly one place."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

CENT = Decimal("0.01")
# Money columns are NUMERIC(14, 2) on both databases' sides: at most 12 digits before the
# point. An amount from outside (a price, a payment) is at most MAX_AMOUNT, so that a sale
# of many lines still fits MAX_TOTAL, the column's own limit, which the till checks.
MAX_TOTAL = Decimal("999999999999.99")
MAX_AMOUNT = Decimal("999999999.99")


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


def parse_amount(value: object, what: str = "amount", maximum: Decimal = MAX_AMOUNT,
                 minimum: Decimal = Decimal(0)) -> Decimal:
    """An amount as it comes from outside: a decimal string (never a JSON number), at most
    two decimals, between ``minimum`` and ``maximum``; returned to the cent."""
    if not isinstance(value, str):
        raise MoneyError(f"{what} must be a decimal string such as \"1.50\", "
                         f"not {_json_type(value)}")
    text = value.strip()
    if not text or text != value or any(c in text for c in "eE_"):
        raise MoneyError(f"{what} must be written as digits with an optional point, "
                         f"such as \"1.50\": {value!r}")
    result = to_decimal(text, what)
    if result < minimum:
        raise MoneyError(f"{what} must be at least {minimum}")
    if result > maximum:
        raise MoneyError(f"{what} must be at most {maximum}")
    if result != result.quantize(CENT):
        raise MoneyError(f"{what} has more than two decimals: {value!r}")
    return result.quantize(CENT)


def _json_type(value: object) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float, Decimal)):
        return "a number"
    if value is None:
        return "null"
    return f"a {type(value).__name__}"
