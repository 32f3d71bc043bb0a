"""Evaluation of a condition against plain facts (a mapping of field name to value).

Facts hold ``str``, ``int``/``Decimal`` (never float), ``bool``, ``date`` (a ``datetime``
counts as its date), lists/tuples of ``str`` or ``None``. ``today`` is passed in: the
caller decides the calendar day (the store's, for a till). The semantics are those stated
in ``rules.conditions.nodes``.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from rules.conditions.nodes import (
    And,
    Between,
    Boolean,
    Compare,
    ConditionError,
    DateValue,
    Flag,
    InList,
    IsEmpty,
    Node,
    Not,
    Number,
    Or,
    RelativeDate,
    Text,
    TextMatch,
    Value,
    resolve_date,
)

Scalar = str | Decimal | bool | date


def evaluate(node: Node, facts: Mapping[str, object], today: date) -> bool:
    """Whether ``facts`` satisfy ``node`` on ``today``."""
    if isinstance(node, Not):
        return not evaluate(node.item, facts, today)
    if isinstance(node, And):
        return all(evaluate(item, facts, today) for item in node.items)
    if isinstance(node, Or):
        return any(evaluate(item, facts, today) for item in node.items)
    raw = facts.get(node.field)
    if isinstance(node, IsEmpty):
        return is_empty(raw)
    if raw is None:
        return False
    if isinstance(node, Flag):
        return raw is True
    if isinstance(node, TextMatch):
        return _text_match(node, raw)
    actual = _scalar(node.field, raw)
    if isinstance(node, Compare):
        return _compare(actual, node.op, _literal(node.value, today), node.field)
    if isinstance(node, Between):
        low, high = _literal(node.low, today), _literal(node.high, today)
        return (_compare(actual, ">=", low, node.field)
                and _compare(actual, "<=", high, node.field))
    assert isinstance(node, InList)
    return any(_compare(actual, "=", _literal(value, today), node.field)
               for value in node.values)


def is_empty(raw: object) -> bool:
    if raw is None:
        return True
    if isinstance(raw, str):
        return not raw.strip()
    if isinstance(raw, (list, tuple, set, frozenset)):
        return not raw
    return False


def _text_match(node: TextMatch, raw: object) -> bool:
    needle = node.value.value.lower()
    if isinstance(raw, (list, tuple)) and node.op == "contains":
        return any(isinstance(item, str) and item.lower() == needle for item in raw)
    if not isinstance(raw, str):
        raise ConditionError(f"{node.field} holds {type(raw).__name__}, not text",
                             node.pos, node.field)
    text = raw.lower()
    if node.op == "starts with":
        return text.startswith(needle)
    if node.op == "ends with":
        return text.endswith(needle)
    return needle in text


def _scalar(name: str, raw: object) -> Scalar:
    if isinstance(raw, bool | str | Decimal):
        return raw
    if isinstance(raw, int):
        return Decimal(raw)
    if isinstance(raw, datetime):
        return raw.date()
    if isinstance(raw, date):
        return raw
    raise ConditionError(f"{name} holds {type(raw).__name__}, which conditions cannot read",
                         field=name)


def _literal(value: Value, today: date) -> Scalar:
    if isinstance(value, (DateValue, RelativeDate)):
        return resolve_date(value, today)
    if isinstance(value, (Number, Text, Boolean)):
        return value.value
    raise AssertionError(value)


def _compare(actual: Scalar, op: str, wanted: Scalar, name: str) -> bool:
    if isinstance(actual, bool) or isinstance(wanted, bool):
        if not (isinstance(actual, bool) and isinstance(wanted, bool)) or op not in ("=", "!="):
            raise _mismatch(name, actual, wanted)
        return (actual == wanted) == (op == "=")
    left: Scalar
    right: Scalar
    if isinstance(actual, str) and isinstance(wanted, str):
        left, right = actual.lower(), wanted.lower()
    elif isinstance(actual, Decimal) and isinstance(wanted, Decimal):
        left, right = actual, wanted
    elif isinstance(actual, date) and isinstance(wanted, date):
        left, right = actual, wanted
    else:
        raise _mismatch(name, actual, wanted)
    return _ORDER[op](left, right)


def _mismatch(name: str, actual: object, wanted: object) -> ConditionError:
    return ConditionError(f"{name} holds {type(actual).__name__}, "
                          f"the condition compares it with {type(wanted).__name__}", field=name)


_ORDER: dict[str, Callable[[Any, Any], bool]] = {
    "=": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le,
    ">": operator.gt, ">=": operator.ge,
}


def matching(node: Node, rows: Sequence[Mapping[str, object]], today: date) -> int:
    """How many of ``rows`` satisfy ``node`` (a preview count over facts already loaded)."""
    return sum(1 for row in rows if evaluate(node, row, today))
