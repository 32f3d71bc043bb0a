"""The multi-criteria filter (K9): rows of field / operator / value, all or any of them.

This is the form head office fills for a customer list or a marketing segment ("Postcode
equals 75017", "birth year greater than 1986"). It is not a second model: ``to_node``
turns it into the condition tree, so lists, alerts and segments are evaluated (and later
translated to SQL) by the same code. Values arrive as text from a form or JSON and are
read according to the field's type.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from rules.conditions.catalogue import Catalogue, Field, FieldType, validate
from rules.conditions.nodes import (
    And,
    Between,
    Boolean,
    Compare,
    CompareOp,
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
    TextOp,
    Value,
    value_text,
)
from rules.conditions.parser import parse_value

COMPARISONS: dict[str, CompareOp] = {
    "equals": "=", "not_equals": "!=", "less_than": "<", "at_most": "<=",
    "greater_than": ">", "at_least": ">=", "before": "<", "after": ">",
}
TEXT_MATCHES: dict[str, TextOp] = {"starts_with": "starts with", "ends_with": "ends with",
                                   "contains": "contains"}
OPERATORS = (*COMPARISONS, "between", "in", "not_in", *TEXT_MATCHES,
             "is_empty", "is_not_empty", "is_true", "is_false")
"""Operator names a form offers, in the order it shows them."""

_DECIMAL = re.compile(r"-?\d+([.,]\d+)?")


class CriterionError(ConditionError):
    """A row that cannot become a condition; ``row`` is its 0-based index."""

    def __init__(self, row: int, field: str, message: str) -> None:
        super().__init__(f"row {row + 1} ({field}): {message}", None, field)
        self.row = row


@dataclass(frozen=True)
class Criterion:
    field: str
    operator: str
    value: str | tuple[str, ...] = ""
    """One text; two for ``between``; one or more for ``in``/``not_in``; none for the
    ``is_*`` operators."""


@dataclass(frozen=True)
class CriteriaFilter:
    rows: tuple[Criterion, ...]
    match: Literal["all", "any"] = "all"


def to_node(criteria: CriteriaFilter, catalogue: Catalogue) -> Node | None:
    """The condition the rows stand for (``None``: no row, everyone matches)."""
    nodes = [_row(i, row, catalogue) for i, row in enumerate(criteria.rows)]
    if not nodes:
        return None
    if len(nodes) == 1:
        return nodes[0]
    return And(tuple(nodes)) if criteria.match == "all" else Or(tuple(nodes))


def _row(index: int, row: Criterion, catalogue: Catalogue) -> Node:
    spec = catalogue.fields.get(row.field)
    if spec is None:
        raise CriterionError(index, row.field, "unknown field")
    if row.operator not in OPERATORS:
        raise CriterionError(index, row.field, f"unknown operator {row.operator!r} "
                             f"(known: {', '.join(OPERATORS)})")
    try:
        node = _build(spec, row)
        validate(node, catalogue)
    except ConditionError as exc:
        if isinstance(exc, CriterionError):
            raise
        raise CriterionError(index, row.field, exc.message) from None
    return node


def _build(spec: Field, row: Criterion) -> Node:
    op, name = row.operator, spec.name
    if op == "is_empty":
        return IsEmpty(name)
    if op == "is_not_empty":
        return Not(IsEmpty(name))
    if op in ("is_true", "is_false"):
        return Flag(name) if op == "is_true" else Not(Flag(name))
    values = (row.value,) if isinstance(row.value, str) else row.value
    if op == "between":
        if len(values) != 2:
            raise ConditionError("'between' needs two values")
        return Between(name, read_value(spec, values[0]), read_value(spec, values[1]))
    if op in ("in", "not_in"):
        if not values or not all(v.strip() for v in values):
            raise ConditionError("needs at least one value")
        leaf = InList(name, tuple(read_value(spec, v) for v in values))
        return leaf if op == "in" else Not(leaf)
    if len(values) != 1:
        raise ConditionError(f"'{op}' needs one value")
    if op in TEXT_MATCHES:
        return TextMatch(name, TEXT_MATCHES[op], Text(values[0]))
    return Compare(name, COMPARISONS[op], read_value(spec, values[0]))


def read_value(spec: Field, raw: str) -> Value:
    """A form's text read as a value of ``spec``'s type."""
    text = raw.strip()
    if spec.type in (FieldType.TEXT, FieldType.LIST):
        return Text(text)
    if not text:
        raise ConditionError("a value is needed")
    if spec.type in (FieldType.NUMBER, FieldType.MONEY):
        if not _DECIMAL.fullmatch(text):
            raise ConditionError(f"{text!r} is not a number")
        return Number(Decimal(text.replace(",", ".")))
    if spec.type is FieldType.BOOLEAN:
        lowered = text.lower()
        if lowered in ("true", "yes", "1"):
            return Boolean(True)
        if lowered in ("false", "no", "0"):
            return Boolean(False)
        raise ConditionError(f"{text!r} is not yes or no")
    problem = f"{text!r} is not a date (YYYY-MM-DD, today, N months ago)"
    try:
        value = parse_value(text)
    except ConditionError as exc:
        raise ConditionError(f"{problem}: {exc.message}") from None
    if not isinstance(value, (DateValue, RelativeDate)):
        raise ConditionError(problem)
    return value


def to_criteria(node: Node | None) -> CriteriaFilter | None:
    """The rows a condition can be shown as, or ``None`` when it is richer than rows
    (nested groups): then the form shows the text instead."""
    if node is None:
        return CriteriaFilter(())
    if isinstance(node, (And, Or)):
        rows = [_criterion(item) for item in node.items]
        if any(row is None for row in rows):
            return None
        return CriteriaFilter(tuple(r for r in rows if r is not None),
                              "all" if isinstance(node, And) else "any")
    row = _criterion(node)
    return None if row is None else CriteriaFilter((row,))


def _criterion(node: Node) -> Criterion | None:
    if isinstance(node, Not):
        inner = node.item
        if isinstance(inner, IsEmpty):
            return Criterion(inner.field, "is_not_empty")
        if isinstance(inner, Flag):
            return Criterion(inner.field, "is_false")
        if isinstance(inner, InList):
            return Criterion(inner.field, "not_in", tuple(_form(v) for v in inner.values))
        return None
    if isinstance(node, IsEmpty):
        return Criterion(node.field, "is_empty")
    if isinstance(node, Flag):
        return Criterion(node.field, "is_true")
    if isinstance(node, Between):
        return Criterion(node.field, "between", (_form(node.low), _form(node.high)))
    if isinstance(node, InList):
        return Criterion(node.field, "in", tuple(_form(v) for v in node.values))
    if isinstance(node, TextMatch):
        op = next(k for k, v in TEXT_MATCHES.items() if v == node.op)
        return Criterion(node.field, op, node.value.value)
    if isinstance(node, Compare):
        dated = isinstance(node.value, (DateValue, RelativeDate)) and node.op in ("<", ">")
        op = ({"<": "before", ">": "after"}[node.op] if dated
              else next(k for k, v in COMPARISONS.items() if v == node.op))
        return Criterion(node.field, op, _form(node.value))
    return None


def _form(value: Value) -> str:
    return value.value if isinstance(value, Text) else value_text(value)
