"""In-store surveys (SPEC S5): questions, surveys, the survey of each store, and results by
period and store (counts, SVG charts, an Excel export with the raw answers)."""

from __future__ import annotations

import datetime as dt
import tempfile
from collections.abc import Iterator
from typing import Any

from flask import redirect, request, url_for
from flask.typing import ResponseReturnValue

from central import exports
from central.charts import bar_chart
from central.console.pages import field_messages, page_blueprint, render
from central.services import stores, surveys
from central.services.errors import Invalid, ServiceError
from central.transactions import db_session

surveys_bp = page_blueprint("surveys", __name__)

DEFAULT_DAYS = 30
RESULT_COLUMNS = ("question", "question_text", "choice", "choice_text", "count")
RAW_COLUMNS = ("answered_at", "store", "sale", "cashier", "survey", "question",
               "question_text", "choice", "choice_text")


def _overview(status: int = 200, errors: dict[str, list[str]] | None = None,
              message: str | None = None) -> ResponseReturnValue:
    db = db_session()
    store_rows, _ = stores.list_stores(db, 1, 10000)
    all_surveys = surveys.list_surveys(db)
    assigned = {s.code: (found.code if (found := surveys.assigned(db, s.code)) else "")
                for s in store_rows}
    return render("surveys/overview.html", status=status, errors=errors or {},
                  message=message, questions=[surveys.question_view(q)
                                              for q in surveys.list_questions(db)],
                  surveys=[surveys.survey_view(s, db) for s in all_surveys],
                  assigned=assigned)


@surveys_bp.route("/surveys", methods=["GET", "POST"])
def overview() -> ResponseReturnValue:
    if request.method == "GET":
        return _overview(message="saved" if request.args.get("saved") else None)
    db = db_session()
    action = request.form.get("action")
    try:
        if action == "question":
            choices = [line.strip() for line in request.form.get("choices", "").splitlines()
                       if line.strip()]
            surveys.create_question(db, request.form.get("code", "").strip(),
                                    request.form.get("text", ""), choices)
        elif action == "survey":
            surveys.create_survey(db, request.form.get("code", "").strip(),
                                  request.form.get("name", ""),
                                  request.form.get("questions", "").split())
        elif action == "assign":
            surveys.assign(db, request.form.get("store", ""),
                           request.form.get("survey") or None)
        else:
            raise Invalid("unknown action", {"action": ["question, survey or assign"]})
        db.commit()
    except ServiceError as exc:
        db.rollback()
        return _overview(exc.status, field_messages(exc.errors), exc.message)
    return redirect(url_for(".overview", saved=1), 303)


def _day(name: str, default: dt.date) -> dt.date:
    text = request.args.get(name, "").strip()
    if not text:
        return default
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise Invalid(f"{name}: not a date (YYYY-MM-DD)", {name: ["not a date"]}) from None


def _period() -> tuple[dt.date, dt.date, str | None, str | None]:
    until = _day("until", dt.datetime.now(dt.UTC).date())
    return (_day("since", until - dt.timedelta(days=DEFAULT_DAYS - 1)), until,
            request.args.get("store") or None, request.args.get("survey") or None)


@surveys_bp.route("/surveys/results")
def results() -> ResponseReturnValue:
    since, until, store, survey = _period()
    db = db_session()
    found = surveys.answers(db, since, until, store, survey)
    counted = surveys.results(found)
    charts = [bar_chart(q["text"], [(c["text"], c["count"]) for c in q["choices"]])
              for q in counted]
    store_rows, _ = stores.list_stores(db, 1, 10000)
    query: dict[str, Any] = {"since": since.isoformat(), "until": until.isoformat(),
                             **({"store": store} if store else {}),
                             **({"survey": survey} if survey else {})}
    return render("surveys/results.html", since=since, until=until, store=store,
                  survey=survey, all_stores=[s.code for s in store_rows],
                  all_surveys=[s.code for s in surveys.list_surveys(db)],
                  results=list(zip(counted, charts, strict=True)),
                  sales=len({a.sale_uuid for a, _s in found}), query=query)


@surveys_bp.route("/surveys/results.xlsx")
def results_export() -> ResponseReturnValue:
    since, until, store, survey = _period()
    found = surveys.answers(db_session(), since, until, store, survey)
    writer = exports.XlsxWriter(RESULT_COLUMNS, title="Results")
    try:
        for q in surveys.results(found):
            for c in q["choices"]:
                writer.write([q["question"], q["text"], c["choice"], c["text"], c["count"]])
        writer.add_sheet(RAW_COLUMNS, title="Answers")
        for answer, code in found:
            writer.write([answer.answered_at.replace(tzinfo=None), code, answer.sale_uuid,
                          answer.cashier, answer.survey, answer.question,
                          answer.question_text, answer.choice, answer.choice_text])
    except BaseException:
        writer.discard()
        raise

    def chunks() -> Iterator[bytes]:
        with tempfile.TemporaryFile() as spool:
            writer.save(spool)
            spool.seek(0)
            while chunk := spool.read(exports.CHUNK):
                yield chunk

    name = f"survey-{since.isoformat()}-{until.isoformat()}{'-' + store if store else ''}"
    return exports.download(chunks(), f"{name}.xlsx", exports.XLSX_TYPE)
