"""Imports in the console (K6): the customers import page, the start of any import (a
customers file, or a partner programme's member list from its page), and an import's
progress, polled with htmx until the end, then its report of rejected rows.

The pages call the REST API's service (``central.services.import_jobs``): the file is
imported by a thread of central whatever page is open, and the progress is read from the
database.
"""

from __future__ import annotations

from typing import Any

from flask import current_app, g, redirect, request
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from werkzeug.exceptions import NotFound as HTTPNotFound

from central.console.export import csv_response
from central.console.pages import field_messages, page_blueprint, render
from central.services import customers, import_jobs, partners
from central.services.errors import Invalid, NotFound
from central.transactions import db_session

imports_bp = page_blueprint("imports", __name__)


def _region() -> str:
    return customers.country_of_zone(current_app.extensions["tessera.settings"]
                                     .default_time_zone)


def _new_page(status: int = 200, **context: Any) -> ResponseReturnValue:
    session = db_session()
    kind = context.pop("kind", None) or request.values.get("kind") or import_jobs.CUSTOMERS
    programme = context.pop("programme", None) or request.values.get("programme") or None
    if kind == import_jobs.PARTNER_MEMBERS and programme and not context.get("errors"):
        try:
            partners.get_programme(session, programme)
        except NotFound:
            raise HTTPNotFound() from None
    context.setdefault("errors", {})
    return render("imports/new.html", status=status, kind=kind, programme=programme,
                  jobs=[import_jobs.check_interrupted(session, j)
                        for j in import_jobs.recent(session)], **context)


@imports_bp.get("/imports")
def new_import() -> ResponseReturnValue:
    """The import form (customers by default; ``?kind=partner-members&programme=X``)."""
    return _new_page()


@imports_bp.post("/imports")
def start() -> ResponseReturnValue:
    form = request.form
    try:
        job = import_jobs.start_upload(
            db_session(), current_app.extensions["tessera.db"].sessions,
            kind=form.get("kind"), programme=form.get("programme") or None,
            upload=request.files.get("file"), author=str(g.principal.username),
            region=_region(), check=form.get("action") == "check")
    except Invalid as exc:
        db_session().rollback()
        return _new_page(422, errors=field_messages(exc.errors),
                         error=_("The import did not start: see the fields below."))
    return redirect(f"/imports/{job['id']}", 303)


@imports_bp.get("/imports/<job_id>")
def progress(job_id: str) -> ResponseReturnValue:
    """The import's page; its htmx poll gets the progress fragment alone."""
    session = db_session()
    job = import_jobs.get(session, job_id)
    session.commit()
    return render("imports/job.html", fragment="imports/_progress.html", job=job,
                  wire=import_jobs.job_wire(job), finished=job.state in import_jobs.FINISHED)


@imports_bp.get("/imports/<job_id>/report.csv")
def report(job_id: str) -> ResponseReturnValue:
    """The rejected rows (line, reason, the row's cells) as CSV."""
    session = db_session()
    job = import_jobs.get(session, job_id)
    name = job.filename.rsplit(".", 1)[0] or "import"
    return csv_response(f"{name}-rejected.csv", import_jobs.report_header(job),
                        import_jobs.report_rows(session, job))
