"""The condition language's syntax tree, its printer and the resolution of relative dates.

A condition is a tree of frozen dataclasses: leaves (``Compare``, ``Between``, ``InList``,
``TextMatch``, ``IsEmpty``, ``Flag``) each name exactly one field and carry only literal
values; ``And``/``Or``/``Not`` combine them. Positions (``pos``) are kept for error
messages and take no part in equality, so a printed tree parsed back equals the original.

Semantics (the evaluator here and any later SQL translator must agree on them):

* A missing value (``None``; for ``is empty`` also ``""``, blanks and an empty list) makes
  every comparison false. ``not`` is plain two-valued negation, so ``not (x = 1)`` is true
  when ``x`` is missing. In SQL: ``col = :v`` becomes ``(col IS NOT NULL AND col = :v)``,
  which keeps ``NOT`` equal to Python's ``not``.
* Text comparisons ignore case (``lower()`` on both sides; ``LIKE`` patterns escape
  ``%``, ``_`` and ``\\``).
* ``between`` includes both ends. Dates compare as calendar dates; a ``RelativeDate`` is
  resolved with ``resolve_date(value, today)`` once, before binding it as a parameter.
* A ``list`` field (e.g. ``cards``) matches ``contains "x"`` when one element equals
  ``x``; in SQL an ``EXISTS`` over the child table.

A SQLAlchemy translator is then one ``match`` over these classes with a mapping from field
name to column expression; no node needs the catalogue to be translated.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from dataclasses import field as attribute
from datetime import date, timedelta
from decimal import Decimal
from typing import Literal

CompareOp = Literal["=", "!=", "<", "<=", ">", ">="]
TextOp = Literal["starts with", "ends with", "contains"]
DateUnit = Literal["day", "week", "month", "year"]

COMPARE_OPS: tuple[CompareOp, ...] = ("=", "!=", "<", "<=", ">", ">=")
TEXT_OPS: tuple[TextOp, ...] = ("starts with", "ends with", "contains")
DATE_UNITS: tuple[DateUnit, ...] = ("day", "week", "month", "year")
MAX_RELATIVE = 9999
"""Largest ``N`` in ``N units ago``: keeps date arithmetic inside the calendar."""


class ConditionError(ValueError):
    """A condition that does not parse, does not fit the field catalogue, or cannot be
    evaluated. ``position`` is a 0-based offset into the text (``None`` when unknown);
    ``field`` names the field concerned, when there is one."""

    def __init__(self, message: str, position: int | None = None,
                 field: str | None = None) -> None:
        self.message = message
        self.position = position
        self.field = field
        where = f" (at column {position + 1})" if position is not None and position >= 0 else ""
        super().__init__(f"{message}{where}")


# --- values -----------------------------------------------------------------------------

@dataclass(frozen=True)
class Number:
    """A number or an amount of money, always a Decimal."""

    value: Decimal


@dataclass(frozen=True)
class Text:
    value: str


@dataclass(frozen=True)
class Boolean:
    value: bool


@dataclass(frozen=True)
class DateValue:
    value: date


@dataclass(frozen=True)
class RelativeDate:
    """``today`` (amount 0) or ``N units ago``."""

    amount: int
    unit: DateUnit


Value = Number | Text | Boolean | DateValue | RelativeDate


# --- predicates and combinations ----------------------------------------------------------

@dataclass(frozen=True)
class Compare:
    field: str
    op: CompareOp
    value: Value
    pos: int = attribute(default=-1, compare=False)


@dataclass(frozen=True)
class Between:
    field: str
    low: Value
    high: Value
    pos: int = attribute(default=-1, compare=False)


@dataclass(frozen=True)
class InList:
    field: str
    values: tuple[Value, ...]
    pos: int = attribute(default=-1, compare=False)


@dataclass(frozen=True)
class TextMatch:
    field: str
    op: TextOp
    value: Text
    pos: int = attribute(default=-1, compare=False)


@dataclass(frozen=True)
class IsEmpty:
    field: str
    pos: int = attribute(default=-1, compare=False)


@dataclass(frozen=True)
class Flag:
    """A boolean field on its own: ``has_card``."""

    field: str
    pos: int = attribute(default=-1, compare=False)


@dataclass(frozen=True)
class Not:
    item: Node


@dataclass(frozen=True)
class And:
    items: tuple[Node, ...]

    def __post_init__(self) -> None:
        if len(self.items) < 2:
            raise ConditionError("'and' needs at least two conditions")


@dataclass(frozen=True)
class Or:
    items: tuple[Node, ...]

    def __post_init__(self) -> None:
        if len(self.items) < 2:
            raise ConditionError("'or' needs at least two conditions")


Predicate = Compare | Between | InList | TextMatch | IsEmpty | Flag
Node = Predicate | Not | And | Or


def predicates(node: Node) -> list[Predicate]:
    """Every leaf of ``node``, left to right."""
    if isinstance(node, Not):
        return predicates(node.item)
    if isinstance(node, (And, Or)):
        return [leaf for item in node.items for leaf in predicates(item)]
    return [node]


def fields_used(node: Node) -> set[str]:
    return {leaf.field for leaf in predicates(node)}


# --- relative dates -----------------------------------------------------------------------

def months_back(day: date, months: int) -> date:
    """``day`` moved back by whole months, clamped to the month's end (31 Mar - 1 = 28/29 Feb)."""
    index = day.year * 12 + (day.month - 1) - months
    year, month = divmod(index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return date(year, month + 1, min(day.day, last))


def resolve_date(value: DateValue | RelativeDate, today: date) -> date:
    """The calendar date a date value stands for on ``today``."""
    if isinstance(value, DateValue):
        return value.value
    try:
        if value.unit == "day":
            return today - timedelta(days=value.amount)
        if value.unit == "week":
            return today - timedelta(weeks=value.amount)
        if value.unit == "month":
            return months_back(today, value.amount)
        return months_back(today, 12 * value.amount)
    except (OverflowError, ValueError) as exc:
        raise ConditionError(f"{value.amount} {value.unit}s ago is outside the calendar") from exc


# --- printing -----------------------------------------------------------------------------

def quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def value_text(value: Value) -> str:
    if isinstance(value, Number):
        return format(value.value, "f")
    if isinstance(value, Text):
        return quote(value.value)
    if isinstance(value, Boolean):
        return "true" if value.value else "false"
    if isinstance(value, DateValue):
        return value.value.isoformat()
    if value.amount == 0 and value.unit == "day":
        return "today"
    unit = value.unit if value.amount == 1 else value.unit + "s"
    return f"{value.amount} {unit} ago"


def _is_date(value: Value) -> bool:
    return isinstance(value, (DateValue, RelativeDate))


def to_text(node: Node) -> str:
    """The condition in the language's own syntax; ``parse(to_text(n)) == n``."""
    if isinstance(node, Compare):
        if _is_date(node.value) and node.op in ("<", ">"):
            word = "before" if node.op == "<" else "after"
            return f"{node.field} {word} {value_text(node.value)}"
        return f"{node.field} {node.op} {value_text(node.value)}"
    if isinstance(node, Between):
        return f"{node.field} between {value_text(node.low)} and {value_text(node.high)}"
    if isinstance(node, InList):
        return f"{node.field} in ({', '.join(value_text(v) for v in node.values)})"
    if isinstance(node, TextMatch):
        return f"{node.field} {node.op} {value_text(node.value)}"
    if isinstance(node, IsEmpty):
        return f"{node.field} is empty"
    if isinstance(node, Flag):
        return node.field
    if isinstance(node, Not):
        return f"not {_operand(node.item)}"
    word = " and " if isinstance(node, And) else " or "
    return word.join(_operand(item) for item in node.items)


def _operand(node: Node) -> str:
    text = to_text(node)
    return f"({text})" if isinstance(node, (And, Or)) else text
