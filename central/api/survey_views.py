"""REST for in-store surveys (SPEC S5): questions, surveys, the survey of each store, and
the results of the answers the tills collected."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask.views import MethodView
from marshmallow import Schema, fields, validate

from central.api.requests import Blueprint
from central.services import surveys
from central.transactions import db_session, transactional

questions_blp = Blueprint("survey-questions", __name__, url_prefix="/api/v1/survey-questions",
                          description="Survey questions and their answer choices")
surveys_blp = Blueprint("surveys", __name__, url_prefix="/api/v1/surveys",
                        description="Surveys: ordered lists of questions")
assign_blp = Blueprint("store-surveys", __name__, url_prefix="/api/v1/store-surveys",
                       description="The one survey a store's tills ask after a sale")
results_blp = Blueprint("survey-results", __name__, url_prefix="/api/v1/survey-results",
                        description="Counts of the answers by question and choice")

CODE = validate.Regexp(r"^[A-Za-z0-9._-]{1,32}$", error="1 to 32 letters, digits, '.', '_', '-'")


class ChoiceIn(Schema):
    code = fields.String(required=True, validate=CODE)
    text = fields.String(required=True, validate=validate.Length(min=1, max=200))


class QuestionIn(Schema):
    code = fields.String(required=True, validate=CODE)
    text = fields.String(required=True, validate=validate.Length(min=1, max=500))
    choices = fields.List(fields.Nested(ChoiceIn), required=True,
                          validate=validate.Length(min=2, max=surveys.MAX_CHOICES))


class QuestionPatch(Schema):
    text = fields.String(validate=validate.Length(min=1, max=500))
    choices = fields.List(fields.Nested(ChoiceIn),
                          validate=validate.Length(min=2, max=surveys.MAX_CHOICES))


class QuestionOut(Schema):
    code = fields.String()
    text = fields.String()
    choices = fields.List(fields.Nested(ChoiceIn))


class SurveyIn(Schema):
    code = fields.String(required=True, validate=CODE)
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    questions = fields.List(fields.String(validate=CODE), required=True,
                            validate=validate.Length(min=1, max=surveys.MAX_QUESTIONS))


class SurveyPatch(Schema):
    name = fields.String(validate=validate.Length(min=1, max=200))
    questions = fields.List(fields.String(validate=CODE),
                            validate=validate.Length(min=1, max=surveys.MAX_QUESTIONS))
    active = fields.Boolean()


class SurveyOut(Schema):
    code = fields.String()
    name = fields.String()
    active = fields.Boolean()
    questions = fields.List(fields.String())
    stores = fields.List(fields.String())


class AssignIn(Schema):
    survey = fields.String(required=True, allow_none=True, validate=CODE)


class AssignOut(Schema):
    store = fields.String()
    survey = fields.String(allow_none=True)


class ResultsArgs(Schema):
    since = fields.Date(metadata={"description": "first day, UTC (default: 29 days before "
                                                 "until)"})
    until = fields.Date(metadata={"description": "last day, UTC (default: today)"})
    store = fields.String(validate=validate.Length(min=1, max=64))
    survey = fields.String(validate=CODE)


class ChoiceCount(Schema):
    choice = fields.String()
    text = fields.String()
    count = fields.Integer()


class QuestionResult(Schema):
    question = fields.String()
    text = fields.String()
    total = fields.Integer()
    choices = fields.List(fields.Nested(ChoiceCount))


class ResultsOut(Schema):
    sales = fields.Integer(metadata={"description": "sales with answers"})
    questions = fields.List(fields.Nested(QuestionResult))


@questions_blp.route("/")
class Questions(MethodView):
    @questions_blp.response(200, QuestionOut(many=True))
    def get(self) -> Any:
        return [surveys.question_view(q) for q in surveys.list_questions(db_session())]

    @questions_blp.arguments(QuestionIn)
    @questions_blp.response(201, QuestionOut)
    @transactional
    def post(self, data: dict[str, Any]) -> Any:
        return surveys.question_view(surveys.create_question(
            db_session(), data["code"], data["text"], data["choices"]))


@questions_blp.route("/<code>")
class QuestionOne(MethodView):
    @questions_blp.response(200, QuestionOut)
    def get(self, code: str) -> Any:
        return surveys.question_view(surveys.get_question(db_session(), code))

    @questions_blp.arguments(QuestionPatch)
    @questions_blp.response(200, QuestionOut)
    @transactional
    def patch(self, data: dict[str, Any], code: str) -> Any:
        """Change it; the stores whose survey asks it get the survey again."""
        return surveys.question_view(surveys.update_question(db_session(), code, data))


@surveys_blp.route("/")
class Surveys(MethodView):
    @surveys_blp.response(200, SurveyOut(many=True))
    def get(self) -> Any:
        db = db_session()
        return [surveys.survey_view(s, db) for s in surveys.list_surveys(db)]

    @surveys_blp.arguments(SurveyIn)
    @surveys_blp.response(201, SurveyOut)
    @transactional
    def post(self, data: dict[str, Any]) -> Any:
        db = db_session()
        return surveys.survey_view(surveys.create_survey(db, data["code"], data["name"],
                                                         data["questions"]), db)


@surveys_blp.route("/<code>")
class SurveyOne(MethodView):
    @surveys_blp.response(200, SurveyOut)
    def get(self, code: str) -> Any:
        db = db_session()
        return surveys.survey_view(surveys.get_survey(db, code), db)

    @surveys_blp.arguments(SurveyPatch)
    @surveys_blp.response(200, SurveyOut)
    @transactional
    def patch(self, data: dict[str, Any], code: str) -> Any:
        db = db_session()
        return surveys.survey_view(surveys.update_survey(db, code, data), db)


@assign_blp.route("/<code>")
class StoreSurvey(MethodView):
    @assign_blp.response(200, AssignOut)
    def get(self, code: str) -> Any:
        found = surveys.assigned(db_session(), code)
        return {"store": code, "survey": found.code if found else None}

    @assign_blp.arguments(AssignIn)
    @assign_blp.response(200, AssignOut)
    @transactional
    def put(self, data: dict[str, Any], code: str) -> Any:
        """Assign the store its survey (null removes it)."""
        found = surveys.assign(db_session(), code, data["survey"])
        return {"store": code, "survey": found.code if found else None}


@results_blp.route("/")
class Results(MethodView):
    @results_blp.arguments(ResultsArgs, location="query")
    @results_blp.response(200, ResultsOut)
    def get(self, args: dict[str, Any]) -> Any:
        """Counts by question and choice in a period (UTC days), all stores or one."""
        until = args.get("until") or dt.datetime.now(dt.UTC).date()
        found = surveys.answers(db_session(), args.get("since") or until - dt.timedelta(days=29),
                                until, args.get("store"), args.get("survey"))
        return {"sales": len({a.sale_uuid for a, _s in found}),
                "questions": surveys.results(found)}


SURVEY_BLUEPRINTS = (questions_blp, surveys_blp, assign_blp, results_blp)
