"""``/api/v1/imports``: a customers file or a partner's member list (CSV or XLSX) imported in
the background (K6); its progress, and the report of its rejected rows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import current_app, request
from flask.views import MethodView
from marshmallow import Schema, fields

from central.api.access import principal
from central.api.customer_views import _region
from central.api.requests import Blueprint
from central.console.export import csv_response
from central.services import import_jobs
from central.services.errors import Invalid
from central.transactions import db_session

MAX_IMPORT = 256 * 1024 * 1024
"""The largest file this endpoint takes (it goes to disk as it arrives, not to memory)."""

imports_blp = Blueprint("imports", __name__, url_prefix="/api/v1/imports",
                        description="Customer and partner member imports, run in the "
                                    "background: progress and the rejected rows' report")


class ImportOut(Schema):
    id = fields.String()
    kind = fields.String(metadata={"description": "customers or partner-members"})
    programme = fields.String(allow_none=True)
    check_only = fields.Boolean()
    filename = fields.String()
    state = fields.String(metadata={"description": "queued, running, done or failed"})
    rows = fields.Integer(metadata={"description": "rows read so far"})
    accepted = fields.Integer()
    rejected = fields.Integer()
    created = fields.Integer()
    updated = fields.Integer()
    unchanged = fields.Integer()
    bytes_read = fields.Integer()
    bytes_total = fields.Integer()
    percent = fields.Integer(metadata={"description": "how far the file has been read"})
    error = fields.String(allow_none=True)
    author = fields.String(allow_none=True)
    created_at = fields.String()
    started_at = fields.String(allow_none=True)
    finished_at = fields.String(allow_none=True)


_UPLOAD = {
    "required": True,
    "description": "The file (CSV or XLSX, any size up to 256 MiB). Customers: the record's "
                   "fields as columns, `extra.{code}`, `external_id`, `card`, `card_kind`. "
                   "Partner members: `number` (or `first` and `last`), `holder`, and the "
                   "record's fields.",
    "content": {"multipart/form-data": {"schema": {
        "type": "object", "required": ["kind", "file"],
        "properties": {
            "kind": {"type": "string", "enum": list(import_jobs.KINDS)},
            "programme": {"type": "string",
                          "description": "the partner programme (partner-members only)"},
            "mode": {"type": "string", "enum": ["apply", "check"],
                     "description": "check: every row checked and counted, nothing written"},
            "file": {"type": "string", "format": "binary"}}}}},
}


@imports_blp.route("/")
class Imports(MethodView):
    @imports_blp.response(200, ImportOut(many=True))
    def get(self) -> Any:
        """The latest imports, newest first."""
        return [import_jobs.job_wire(j) for j in import_jobs.recent(db_session())]

    @imports_blp.doc(requestBody=_UPLOAD)
    @imports_blp.response(202, ImportOut)
    def post(self) -> Any:
        """Upload a file and import it in the background; follow it at its ``id``."""
        request.max_content_length = MAX_IMPORT
        if request.mimetype != "multipart/form-data":
            raise Invalid("invalid import", {"file": ["send multipart/form-data with the "
                                                      "fields kind, programme and file"]})
        form = request.form
        check = form.get("mode", "apply")
        if check not in ("apply", "check"):
            raise Invalid("invalid import", {"mode": ["apply (the default) or check"]})
        wire = import_jobs.start_upload(
            db_session(), current_app.extensions["tessera.db"].sessions,
            kind=form.get("kind"), programme=form.get("programme"),
            upload=request.files.get("file"), author=principal().username,
            region=_region(), check=check == "check")
        return wire, 202, {"Location": f"/api/v1/imports/{wire['id']}"}


@imports_blp.route("/<job_id>")
class Import(MethodView):
    @imports_blp.response(200, ImportOut)
    def get(self, job_id: str) -> Any:
        """An import's progress: rows read, accepted, rejected, its state and error."""
        session = db_session()
        job = import_jobs.get(session, job_id)
        session.commit()  # an interrupted job is recorded as such
        return import_jobs.job_wire(job)


@imports_blp.route("/<job_id>/report")
class ImportReport(MethodView):
    @imports_blp.response(200, content_type="text/csv",
                          description="line, reason (naming the column), then the row's cells")
    def get(self, job_id: str) -> Any:
        """The rejected rows as CSV, in line order (so far, while the import runs)."""
        session = db_session()
        job = import_jobs.get(session, job_id)
        stem = Path(job.filename).stem or "import"
        return csv_response(f"{stem}-rejected.csv", import_jobs.report_header(job),
                            import_jobs.report_rows(session, job))


IMPORT_BLUEPRINTS = (imports_blp,)
