"""Bodies of the upstream entries the till's head-office features write (SPEC S4-S7).

Each has a schema and a reader that gives the validated body or a WireError with the
reason (``protocol.upstream`` registers them as entry kinds).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from marshmallow import EXCLUDE, Schema, fields, validate

from protocol.encoding import load_checked


class SeenSchema(Schema):
    """Body of a ``seen`` entry: a cashier saw an instruction at the till (once).
    ``cashier`` is None at a store without cashiers. Entry id:
    ``seen:{instruction}:{cashier or ''}``."""

    class Meta:
        unknown = EXCLUDE

    instruction = fields.String(required=True, validate=validate.Length(min=1, max=32))
    cashier = fields.String(load_default=None, allow_none=True,
                            validate=validate.Length(min=1, max=32))
    seen_at = fields.AwareDateTime(required=True)


class FootfallSchema(Schema):
    """Body of a ``footfall`` entry: one counter's in/out counts of one interval.
    Entry id: ``footfall:{counter}:{start}``."""

    class Meta:
        unknown = EXCLUDE

    counter = fields.String(required=True, validate=validate.Length(min=1, max=64))
    start = fields.AwareDateTime(required=True)
    minutes = fields.Integer(required=True, strict=True,
                             validate=validate.Range(min=1, max=24 * 60))
    in_ = fields.Integer(required=True, strict=True, data_key="in",
                         validate=validate.Range(min=0, max=100_000))
    out = fields.Integer(required=True, strict=True, validate=validate.Range(min=0, max=100_000))


class AnswerItemSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    question = fields.String(required=True, validate=validate.Length(min=1, max=32))
    question_text = fields.String(required=True, validate=validate.Length(min=1, max=500))
    choice = fields.String(required=True, validate=validate.Length(min=1, max=32))
    choice_text = fields.String(required=True, validate=validate.Length(min=1, max=200))


class AnswerSchema(Schema):
    """Body of an ``answer`` entry: a customer's answers to the store's survey after a sale
    (written after the sale's own entry). Entry id: ``answer:{sale}``."""

    class Meta:
        unknown = EXCLUDE

    sale = fields.UUID(required=True)
    survey = fields.String(required=True, validate=validate.Length(min=1, max=32))
    cashier = fields.String(load_default=None, allow_none=True,
                            validate=validate.Length(min=1, max=32))
    answered_at = fields.AwareDateTime(required=True)
    answers = fields.List(fields.Nested(AnswerItemSchema), required=True,
                          validate=validate.Length(min=1, max=50))


SEEN = SeenSchema()
ANSWER = AnswerSchema()
FOOTFALL = FootfallSchema()


def _reader(schema: Schema, what: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
    def read(body: dict[str, Any]) -> dict[str, Any]:
        return load_checked(schema, body, f"{what} entry")
    return read


parse_seen = _reader(SEEN, "seen")
parse_footfall = _reader(FOOTFALL, "footfall")
parse_answer = _reader(ANSWER, "answer")
