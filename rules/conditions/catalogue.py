"""The fields a condition may name, with their types, and the check of a tree against them.

A catalogue is data: central builds the customer catalogue from the standard fields, the
aggregates and head office's extra questions; e-wallet conditions and segments bring their
own. ``compile_condition`` is what a service calls when a condition is saved.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import Enum

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
    Value,
    to_text,
)
from rules.conditions.parser import KEYWORDS, parse


class FieldType(Enum):
    TEXT = "text"
    NUMBER = "number"
    MONEY = "money"
    DATE = "date"
    BOOLEAN = "boolean"
    LIST = "list"
    """A list of texts (a customer's card numbers, the stores they bought at)."""


@dataclass(frozen=True)
class Field:
    name: str
    type: FieldType
    label: str = ""
    choices: tuple[str, ...] = ()
    """For a text field with a closed list of answers: a value outside it is refused."""


@dataclass(frozen=True)
class Catalogue:
    fields: Mapping[str, Field]

    @classmethod
    def of(cls, fields: Iterable[Field]) -> Catalogue:
        table: dict[str, Field] = {}
        for item in fields:
            if item.name.lower() in KEYWORDS or item.name.split(".")[0].lower() in KEYWORDS:
                raise ValueError(f"{item.name!r} is a word of the language, not a field name")
            if item.name in table:
                raise ValueError(f"field {item.name!r} is defined twice")
            table[item.name] = item
        return cls(table)

    def extended(self, fields: Iterable[Field]) -> Catalogue:
        return Catalogue.of([*self.fields.values(), *fields])

    def get(self, name: str, pos: int) -> Field:
        try:
            return self.fields[name]
        except KeyError:
            known = ", ".join(sorted(self.fields))
            raise ConditionError(f"unknown field {name} (known: {known})", pos, name) from None


@dataclass(frozen=True)
class Condition:
    """A parsed and checked condition, with the text it was written as."""

    text: str
    node: Node

    @property
    def canonical(self) -> str:
        return to_text(self.node)


def compile_condition(text: str, catalogue: Catalogue) -> Condition:
    """Parse ``text`` and check it against ``catalogue``; the one entry point for saving."""
    node = parse(text)
    validate(node, catalogue)
    return Condition(text, node)


_ORDERED = (FieldType.NUMBER, FieldType.MONEY, FieldType.DATE)


def validate(node: Node, catalogue: Catalogue) -> None:
    """Raise ConditionError (with the position and the field) at the first misfit."""
    if isinstance(node, Not):
        validate(node.item, catalogue)
        return
    if isinstance(node, (And, Or)):
        for item in node.items:
            validate(item, catalogue)
        return
    spec = catalogue.get(node.field, node.pos)
    if isinstance(node, IsEmpty):
        return
    if isinstance(node, Flag):
        _require(spec, (FieldType.BOOLEAN,), "on its own", node.pos)
    elif isinstance(node, Compare):
        if node.op in ("=", "!="):
            _require(spec, tuple(t for t in FieldType if t is not FieldType.LIST),
                     node.op, node.pos)
        else:
            _require(spec, _ORDERED, node.op, node.pos)
        _check_value(spec, node.value, node.pos)
    elif isinstance(node, Between):
        _require(spec, _ORDERED, "between", node.pos)
        _check_value(spec, node.low, node.pos)
        _check_value(spec, node.high, node.pos)
        low, high = node.low, node.high
        if ((isinstance(low, Number) and isinstance(high, Number) and low.value > high.value)
                or (isinstance(low, DateValue) and isinstance(high, DateValue)
                    and low.value > high.value)):
            raise ConditionError(f"{spec.name}: 'between' needs the smaller value first",
                                 node.pos, spec.name)
    elif isinstance(node, InList):
        _require(spec, (FieldType.TEXT, FieldType.NUMBER, FieldType.MONEY), "in", node.pos)
        for value in node.values:
            _check_value(spec, value, node.pos)
    else:
        allowed = (FieldType.TEXT, FieldType.LIST) if node.op == "contains" else (
            FieldType.TEXT,)
        _require(spec, allowed, node.op, node.pos)
        if spec.type is FieldType.TEXT:
            _check_value(spec, node.value, node.pos, choices=False)


def _require(spec: Field, types: tuple[FieldType, ...], op: str, pos: int) -> None:
    if spec.type not in types:
        wanted = ", ".join(t.value for t in types)
        raise ConditionError(f"{spec.name} is {spec.type.value}: '{op}' works on {wanted}",
                             pos, spec.name)


_VALUE_TYPES: dict[FieldType, tuple[type, ...]] = {
    FieldType.TEXT: (Text,),
    FieldType.NUMBER: (Number,),
    FieldType.MONEY: (Number,),
    FieldType.DATE: (DateValue, RelativeDate),
    FieldType.BOOLEAN: (Boolean,),
    FieldType.LIST: (Text,),
}

_VALUE_NAMES = {Text: "a quoted text", Number: "a number", DateValue: "a date",
                RelativeDate: "a date", Boolean: "true or false"}


def _check_value(spec: Field, value: Value, pos: int, *, choices: bool = True) -> None:
    wanted = _VALUE_TYPES[spec.type]
    if not isinstance(value, wanted):
        raise ConditionError(
            f"{spec.name} is {spec.type.value}: it compares with {_VALUE_NAMES[wanted[0]]}, "
            f"not {_VALUE_NAMES[type(value)]}", pos, spec.name)
    if spec.type is FieldType.MONEY and isinstance(value, Number):
        exponent = value.value.as_tuple().exponent
        if isinstance(exponent, int) and exponent < -2:
            raise ConditionError(f"{spec.name} is money: at most 2 decimals", pos, spec.name)
    if choices and spec.choices and isinstance(value, Text):
        folded = {choice.lower() for choice in spec.choices}
        if value.value.lower() not in folded:
            raise ConditionError(
                f"{spec.name} is one of {', '.join(spec.choices)}, not {value.value!r}",
                pos, spec.name)
