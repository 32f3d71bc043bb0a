"""In-store surveys (SPEC S5): questions with answer choices, surveys as ordered lists of
questions, one survey assigned per store, and the answers tills collect after a sale.

A store's survey travels on its own ``store-config@s:{store}`` stream as one ``survey``
record (key = the store) with its questions in order; editing a question or a survey sends
it again to every store that asks it; removing the assignment sends a delete. Answers come
up as one ``answer`` entry per sale (after the sale's own entry), recorded once per sale
and question.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from central.models import (
    Store,
    Survey,
    SurveyAnswer,
    SurveyAssignment,
    SurveyItem,
    SurveyQuestion,
)
from central.services import bulk, changelog
from central.services.errors import Conflict, Invalid, NotFound
from central.services.stores import BUCKET, get_store
from central.services.upstream import Item, Recorded
from protocol import upstream as upstream_kinds
from protocol.streams import Scope

CODE = re.compile(r"[A-Za-z0-9._-]{1,32}")
ENTITY = "survey"
MAX_CHOICES = 9  # a key each at the till
MAX_QUESTIONS = 20


def _code(code: str, field: str = "code") -> str:
    if not CODE.fullmatch(code or ""):
        raise Invalid(f"bad {field} {code!r}", {field: ["1 to 32 letters, digits, '.', '_', '-'"]})
    return code


def _choices(choices: Iterable[Any]) -> list[dict[str, str]]:
    found: list[dict[str, str]] = []
    for index, choice in enumerate(choices, 1):
        if isinstance(choice, str):
            choice = {"code": str(index), "text": choice}
        text = str(choice.get("text", "")).strip()
        code = _code(str(choice.get("code") or index), "choices")
        if not text or len(text) > 200:
            raise Invalid("a choice needs a text of 1 to 200 characters",
                          {"choices": ["1 to 200 characters"]})
        found.append({"code": code, "text": text})
    if not 2 <= len(found) <= MAX_CHOICES:
        raise Invalid(f"a question has 2 to {MAX_CHOICES} choices",
                      {"choices": [f"2 to {MAX_CHOICES} choices"]})
    if len({c["code"] for c in found}) != len(found):
        raise Invalid("two choices with the same code", {"choices": ["codes must differ"]})
    return found


def question_view(question: SurveyQuestion) -> dict[str, Any]:
    return {"code": question.code, "text": question.text,
            "choices": json.loads(question.choices)}


def survey_view(survey: Survey, session: Session) -> dict[str, Any]:
    return {"code": survey.code, "name": survey.name, "active": survey.active,
            "questions": [i.question.code for i in survey.items],
            "stores": stores_of(session, survey)}


def wire(store: Store, survey: Survey) -> dict[str, Any]:
    """What the store's stream carries (protocol.entities.SurveyData)."""
    return {"store": store.code, "code": survey.code, "name": survey.name,
            "questions": [question_view(i.question) for i in survey.items]}


def get_question(session: Session, code: str) -> SurveyQuestion:
    found = session.scalar(select(SurveyQuestion).where(SurveyQuestion.code == code))
    if found is None:
        raise NotFound(f"no survey question {code!r}")
    return found


def get_survey(session: Session, code: str) -> Survey:
    found = session.scalar(select(Survey).where(Survey.code == code))
    if found is None:
        raise NotFound(f"no survey {code!r}")
    return found


def list_questions(session: Session) -> list[SurveyQuestion]:
    return list(session.scalars(select(SurveyQuestion).order_by(SurveyQuestion.code)))


def list_surveys(session: Session) -> list[Survey]:
    return list(session.scalars(select(Survey).order_by(Survey.code)))


def stores_of(session: Session, survey: Survey) -> list[str]:
    return list(session.scalars(select(Store.code).join(
        SurveyAssignment, SurveyAssignment.store_id == Store.id).where(
        SurveyAssignment.survey_id == survey.id).order_by(Store.code)))


def _republish(session: Session, survey: Survey) -> None:
    for store in session.scalars(select(Store).join(
            SurveyAssignment, SurveyAssignment.store_id == Store.id).where(
            SurveyAssignment.survey_id == survey.id).order_by(Store.code)):
        scope = Scope("store", store.code)
        if survey.active:
            changelog.record(session, BUCKET, scope, ENTITY, store.code, "upsert",
                             wire(store, survey))
        else:
            changelog.record(session, BUCKET, scope, ENTITY, store.code, "delete", None)


def create_question(session: Session, code: str, text: str,
                    choices: Iterable[Any]) -> SurveyQuestion:
    _code(code)
    text = text.strip()
    if not text or len(text) > 500:
        raise Invalid("the question needs a text of 1 to 500 characters",
                      {"text": ["1 to 500 characters"]})
    if session.scalar(select(SurveyQuestion).where(SurveyQuestion.code == code)):
        raise Conflict(f"question {code!r} exists already", {"code": ["taken"]})
    question = SurveyQuestion(code=code, text=text, choices=json.dumps(_choices(choices)))
    session.add(question)
    session.flush()
    return question


def update_question(session: Session, code: str, changes: dict[str, Any]) -> SurveyQuestion:
    question = get_question(session, code)
    if changes.get("text") is not None:
        text = str(changes["text"]).strip()
        if not text or len(text) > 500:
            raise Invalid("the question needs a text of 1 to 500 characters",
                          {"text": ["1 to 500 characters"]})
        question.text = text
    if changes.get("choices") is not None:
        question.choices = json.dumps(_choices(changes["choices"]))
    session.flush()
    for survey in session.scalars(select(Survey).join(SurveyItem).where(
            SurveyItem.question_id == question.id).distinct()):
        _republish(session, survey)
    return question


def _items(session: Session, codes: Iterable[str]) -> list[SurveyItem]:
    codes = list(codes)
    if not 1 <= len(codes) <= MAX_QUESTIONS:
        raise Invalid(f"a survey has 1 to {MAX_QUESTIONS} questions",
                      {"questions": [f"1 to {MAX_QUESTIONS} questions"]})
    if len(set(codes)) != len(codes):
        raise Invalid("a question twice in the survey", {"questions": ["each once"]})
    found = {q.code: q for q in session.scalars(
        select(SurveyQuestion).where(SurveyQuestion.code.in_(codes)))}
    unknown = [c for c in codes if c not in found]
    if unknown:  # the body names them: its fault (422), not a missing resource (404)
        raise Invalid(f"no survey question {unknown[0]!r}",
                      {"questions": [f"no question {c!r}" for c in unknown]})
    return [SurveyItem(position=n, question=found[c]) for n, c in enumerate(codes, 1)]


def create_survey(session: Session, code: str, name: str, questions: Iterable[str]) -> Survey:
    _code(code)
    if not name.strip():
        raise Invalid("the survey needs a name", {"name": ["required"]})
    if session.scalar(select(Survey).where(Survey.code == code)):
        raise Conflict(f"survey {code!r} exists already", {"code": ["taken"]})
    survey = Survey(code=code, name=name.strip(), active=True,
                    items=_items(session, questions))
    session.add(survey)
    session.flush()
    return survey


def update_survey(session: Session, code: str, changes: dict[str, Any]) -> Survey:
    survey = get_survey(session, code)
    if changes.get("name") is not None:
        if not str(changes["name"]).strip():
            raise Invalid("the survey needs a name", {"name": ["required"]})
        survey.name = str(changes["name"]).strip()
    if changes.get("questions") is not None:
        survey.items.clear()
        session.flush()
        survey.items.extend(_items(session, changes["questions"]))
    if changes.get("active") is not None:
        survey.active = bool(changes["active"])
    session.flush()
    _republish(session, survey)
    return survey


def assign(session: Session, store_code: str, survey_code: str | None) -> Survey | None:
    """Give the store ``survey_code`` to ask (None: no survey any more)."""
    store = get_store(session, store_code)
    row = session.get(SurveyAssignment, store.id)
    scope = Scope("store", store.code)
    if survey_code is None:
        if row is not None:
            session.delete(row)
            changelog.record(session, BUCKET, scope, ENTITY, store.code, "delete", None)
        return None
    survey = session.scalar(select(Survey).where(Survey.code == survey_code))
    if survey is None:  # named by the body (the store in the path is the resource)
        raise Invalid(f"no survey {survey_code!r}", {"survey": [f"no survey {survey_code!r}"]})
    if row is None:
        session.add(SurveyAssignment(store_id=store.id, survey_id=survey.id))
    else:
        row.survey_id = survey.id
    session.flush()
    if survey.active:
        changelog.record(session, BUCKET, scope, ENTITY, store.code, "upsert",
                         wire(store, survey))
    return survey


def assigned(session: Session, store_code: str) -> Survey | None:
    store = get_store(session, store_code)
    row = session.get(SurveyAssignment, store.id)
    return session.get(Survey, row.survey_id) if row else None


class AnswerHandler:
    """The ``answer`` upstream kind: each answer once per sale and question."""

    kind = "answer"
    after = frozenset({"sale"})  # names its sale, an earlier entry

    def read(self, entry: dict[str, Any], store: Store) -> dict[str, Any]:
        return upstream_kinds.read("answer", entry["body"])

    def record(self, session: Session, store: Store, epoch: str,
               items: list[Item]) -> Recorded:
        rows = {}
        for _entry, body in items:
            for answer in body["answers"]:
                rows[(str(body["sale"]), answer["question"])] = {
                    "store_id": store.id, "sale_uuid": str(body["sale"]),
                    "cashier": body["cashier"], "survey": body["survey"],
                    "question": answer["question"], "question_text": answer["question_text"],
                    "choice": answer["choice"], "choice_text": answer["choice_text"],
                    "answered_at": body["answered_at"]}
        done = session.execute(bulk.insert(session, SurveyAnswer).values(list(rows.values()))
                               .on_conflict_do_nothing(index_elements=["sale_uuid", "question"])
                               .returning(SurveyAnswer.sale_uuid))
        new_sales = {sale for (sale,) in done.all()}
        applied = len({str(body["sale"]) for _e, body in items} & new_sales)
        return Recorded(applied=applied, duplicates=len(items) - applied)

    def held(self, session: Session, store: Store, epoch: str,
             seqs: list[int]) -> dict[int, str]:
        return {}  # recorded by sale and question, not by seq


def answers(session: Session, since: dt.date, until: dt.date, store: str | None = None,
            survey: str | None = None) -> list[tuple[SurveyAnswer, str]]:
    """The answers given ``since`` to ``until`` (UTC days, inclusive), with their store."""
    if until < since:
        raise Invalid("the period ends before it starts", {"until": ["on or after since"]})
    query = (select(SurveyAnswer, Store.code).join(Store, Store.id == SurveyAnswer.store_id)
             .where(SurveyAnswer.answered_at >= dt.datetime.combine(since, dt.time(), dt.UTC),
                    SurveyAnswer.answered_at < dt.datetime.combine(
                        until + dt.timedelta(days=1), dt.time(), dt.UTC)))
    if store:
        query = query.where(Store.id == get_store(session, store).id)
    if survey:
        query = query.where(SurveyAnswer.survey == survey)
    return [(a, code) for a, code in session.execute(
        query.order_by(SurveyAnswer.answered_at, SurveyAnswer.id))]


def results(found: Iterable[tuple[SurveyAnswer, str]]) -> list[dict[str, Any]]:
    """Counts per question and choice: [{question, text, total, choices: [{choice, text,
    count}]}], questions and choices in the order they were first answered."""
    questions: dict[str, dict[str, Any]] = {}
    counts: dict[str, dict[str, list[Any]]] = defaultdict(dict)
    for answer, _store in found:
        q = questions.setdefault(answer.question, {"question": answer.question,
                                                   "text": answer.question_text, "total": 0})
        q["total"] += 1
        slot = counts[answer.question].setdefault(answer.choice, [answer.choice_text, 0])
        slot[1] += 1
    return [{**q, "choices": [{"choice": c, "text": t, "count": n}
                              for c, (t, n) in sorted(counts[code].items())]}
            for code, q in questions.items()]
