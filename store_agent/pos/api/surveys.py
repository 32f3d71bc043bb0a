"""In-store surveys at the store (SPEC S5): the survey central assigned to this store
(``survey`` entity, store-config), asked by the till after a sale is validated.

The till posts the customer's answers for a sale (``POST /pos/v1/sales/{uuid}/survey``);
they are checked against the store's survey and the sale (which must be recorded here),
stored, and queued as one ``answer`` outbox entry in the same transaction, after the sale's
own entry, tied to the sale, the store and the sale's cashier. A repeat of the same answers
is a no-op (central hears once); other answers for a sale already answered are refused. A
skipped survey sends nothing.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from typing import Any

from flask.views import MethodView
from marshmallow import Schema, fields, validate

from store_agent.pos.api.blueprint import Blueprint
from store_agent.pos.api.context import PosContext
from store_agent.pos.api.errors import error
from store_agent.pos.checkout import UnknownSale
from store_agent.sync import outbox

MAX_ANSWERS = 20


class SurveyRefused(ValueError):
    """Answers that do not fit the store's survey or the sale."""


class SurveyConflict(ValueError):
    """The sale was answered before, with other answers."""


def current(conn: sqlite3.Connection, store_code: str) -> dict[str, Any] | None:
    row = conn.execute("SELECT data FROM surveys WHERE store = ?", (store_code,)).fetchone()
    if row is None:
        return None
    data = json.loads(row[0])
    return {"code": data["code"], "name": data["name"], "questions": data["questions"]}


def record(conn: sqlite3.Connection, store_code: str, sale_uuid: str,
           given: list[dict[str, str]], now: dt.datetime) -> bool:
    """Store the answers to the sale's survey and queue them; True when new, False for a
    repeat of the same answers."""
    sale = conn.execute("SELECT result FROM sales WHERE uuid = ?", (sale_uuid,)).fetchone()
    if sale is None:
        raise UnknownSale(f"no sale {sale_uuid} at this store")
    survey = current(conn, store_code)
    if survey is None:
        raise SurveyRefused("this store has no survey")
    questions = {q["code"]: q for q in survey["questions"]}
    answers = []
    for item in given:
        question = questions.get(item["question"])
        if question is None:
            raise SurveyRefused(f"{item['question']!r} is not a question of survey "
                                f"{survey['code']!r}")
        choice = next((c for c in question["choices"] if c["code"] == item["choice"]), None)
        if choice is None:
            raise SurveyRefused(f"{item['choice']!r} is not a choice of question "
                                f"{question['code']!r}")
        answers.append({"question": question["code"], "question_text": question["text"],
                        "choice": choice["code"], "choice_text": choice["text"]})
    if len({a["question"] for a in answers}) != len(answers):
        raise SurveyRefused("a question answered twice")
    encoded = json.dumps([(a["question"], a["choice"]) for a in answers])
    held = conn.execute("SELECT answers FROM survey_answers WHERE sale = ?",
                        (sale_uuid,)).fetchone()
    if held is not None:
        if held[0] == encoded:
            return False
        raise SurveyConflict(f"sale {sale_uuid} was answered before with other answers")
    at = now.astimezone(dt.UTC).isoformat()
    conn.execute("INSERT INTO survey_answers (sale, survey, answers, answered_at) "
                 "VALUES (?, ?, ?, ?)", (sale_uuid, survey["code"], encoded, at))
    outbox.append(conn, "answer", f"answer:{sale_uuid}", {
        "sale": sale_uuid, "survey": survey["code"],
        "cashier": json.loads(sale[0]).get("cashier"), "answered_at": at,
        "answers": answers}, now)
    return True


class SurveyChoiceOut(Schema):
    code = fields.String()
    text = fields.String()


class SurveyQuestionOut(Schema):
    code = fields.String()
    text = fields.String()
    choices = fields.List(fields.Nested(SurveyChoiceOut))


class PosSurveyOut(Schema):
    code = fields.String()
    name = fields.String()
    questions = fields.List(fields.Nested(SurveyQuestionOut))


class SurveyCurrentOut(Schema):
    survey = fields.Nested(PosSurveyOut, allow_none=True,
                           metadata={"description": "null: this store asks no survey"})


class SurveyAnswerIn(Schema):
    question = fields.String(required=True, validate=validate.Length(min=1, max=32))
    choice = fields.String(required=True, validate=validate.Length(min=1, max=32))


class SurveyAnswersIn(Schema):
    answers = fields.List(fields.Nested(SurveyAnswerIn), required=True,
                          validate=validate.Length(min=1, max=MAX_ANSWERS))


class SurveyAnswersOut(Schema):
    sale = fields.String()
    first = fields.Boolean(metadata={"description": "false: the same answers were recorded "
                                     "before"})


def create_blueprint(pos: PosContext) -> Blueprint:
    store, store_code, clock = pos.store, pos.store_code, pos.clock
    blp = Blueprint("pos-surveys", __name__, url_prefix="/pos/v1",
                    description="The store's survey, asked after a sale, and its answers")

    @blp.route("/survey")
    class Current(MethodView):
        @blp.response(200, SurveyCurrentOut)
        def get(self) -> Any:
            """The survey to ask after each sale (null: none)."""
            with store.read() as conn:
                return {"survey": current(conn, store_code)}

    @blp.route("/sales/<sale_uuid>/survey")
    class Answers(MethodView):
        @blp.arguments(SurveyAnswersIn)
        @blp.response(200, SurveyAnswersOut)
        @blp.alt_response(404, description="no such sale here")
        @blp.alt_response(409, description="the sale was answered with other answers")
        def post(self, data: dict[str, Any], sale_uuid: str) -> Any:
            """Record the customer's answers for a sale (a skipped survey posts nothing)."""
            try:
                with store.write() as conn:
                    first = record(conn, store_code, sale_uuid, data["answers"], clock())
            except SurveyConflict as exc:
                return error(409, str(exc), {"answers": [str(exc)]})
            except SurveyRefused as exc:
                return error(422, str(exc), {"answers": [str(exc)]})
            return {"sale": sale_uuid, "first": first}

    return blp
