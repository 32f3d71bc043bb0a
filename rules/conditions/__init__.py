"""The condition language: customer alerts, lists, e-wallet conditions and segments.

Text is parsed by a hand-written tokenizer and recursive-descent parser (never eval'd),
checked against a catalogue of typed fields and evaluated against plain facts with
``today`` passed in. ``filters`` turns head office's rows of field / operator / value into
the same tree.
"""

from rules.conditions.catalogue import (
    Catalogue,
    Condition,
    Field,
    FieldType,
    compile_condition,
    validate,
)
from rules.conditions.evaluate import evaluate, is_empty
from rules.conditions.filters import (
    OPERATORS,
    CriteriaFilter,
    Criterion,
    CriterionError,
    read_value,
    to_criteria,
    to_node,
)
from rules.conditions.nodes import ConditionError, Node, resolve_date, to_text
from rules.conditions.parser import parse, parse_value

__all__ = [
    "OPERATORS", "Catalogue", "Condition", "ConditionError", "CriteriaFilter", "Criterion",
    "CriterionError", "Field", "FieldType", "Node", "compile_condition", "evaluate",
    "is_empty", "parse", "parse_value", "read_value", "resolve_date", "to_criteria",
    "to_node", "to_text", "validate",
]
