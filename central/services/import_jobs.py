"""Imports run in the background (K6): a file of customers or a partner's member list,
uploaded through the REST API or the console, imported by a thread of central while any
request reads its progress.

The state lives in the database (``ImportJob``: rows read, accepted, rejected, created,
updated, unchanged, bytes read of the file, state and error; ``ImportRejection``: every
rejected row with its reason), written after each batch of ``central.imports.run_import``.
Nothing fancier: the job names the process importing it (host and pid); a job whose
process is gone (central stopped mid-import) reads as failed (``interrupted``), and since
an import is idempotent the same file can simply be imported again.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import socket
import threading
import uuid as uuidlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from central.imports import BatchHandler, ImportAborted, ImportResult, Rejection, run_import
from central.models import ImportJob, ImportRejection
from central.services import customer_imports, partner_members, partners
from central.services.errors import Invalid, NotFound
from central.tabular import Progress, TabularError, open_table

log = logging.getLogger(__name__)

CUSTOMERS, PARTNER_MEMBERS = "customers", "partner-members"
KINDS = (CUSTOMERS, PARTNER_MEMBERS)
SUFFIXES = (".csv", ".xlsx")
BATCH = 1000
FINISHED = ("done", "failed")


def job_wire(job: ImportJob) -> dict[str, Any]:
    return {"id": job.id, "kind": job.kind, "programme": job.programme,
            "check_only": job.check_only,
            "filename": job.filename, "state": job.state, "rows": job.rows,
            "accepted": job.accepted, "rejected": job.rejected, "created": job.created,
            "updated": job.updated, "unchanged": job.unchanged, "bytes_read": job.bytes_read,
            "bytes_total": job.bytes_total, "percent": percent(job), "error": job.error,
            "author": job.author, "created_at": _iso(job.created_at),
            "started_at": _iso(job.started_at), "finished_at": _iso(job.finished_at)}


def _iso(moment: dt.datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(dt.UTC).isoformat()


def percent(job: ImportJob) -> int:
    """How far the file has been read (100 once finished)."""
    if job.state in FINISHED:
        return 100
    if not job.bytes_total:
        return 0
    return min(99, job.bytes_read * 100 // job.bytes_total)


def get(session: Session, job_id: str) -> ImportJob:
    try:
        job_id = str(uuidlib.UUID(job_id))
    except ValueError:
        raise NotFound(f"no import {job_id!r}") from None
    job = session.get(ImportJob, job_id)
    if job is None:
        raise NotFound(f"no import {job_id!r}")
    return check_interrupted(session, job)


def recent(session: Session, limit: int = 20) -> list[ImportJob]:
    return list(session.scalars(select(ImportJob).order_by(ImportJob.created_at.desc())
                                .limit(limit)))


def create(session: Session, *, kind: str | None, programme: str | None,
           filename: str | None, author: str | None, check: bool = False) -> ImportJob:
    """A queued import (``check``: every row checked, nothing written); bad input is Invalid
    naming each field, nothing written."""
    problems: dict[str, list[str]] = {}
    if kind not in KINDS:
        problems["kind"] = [f"one of {', '.join(KINDS)}"]
    programme = (programme or "").strip() or None
    if kind == PARTNER_MEMBERS:
        if programme is None:
            problems["programme"] = ["required for a member list"]
        else:
            try:
                partners.get_programme(session, programme)
            except NotFound:
                problems["programme"] = [f"no partner programme {programme!r}"]
    elif kind == CUSTOMERS and programme is not None:
        problems["programme"] = ["only for a member list (kind partner-members)"]
    name = Path(filename or "").name
    if not name:
        problems["file"] = ["send the file in the multipart field 'file'"]
    elif Path(name).suffix.lower() not in SUFFIXES:
        problems["file"] = ["a .csv or .xlsx file"]
    if problems:
        raise Invalid("invalid import", problems)
    job = ImportJob(id=str(uuidlib.uuid4()), kind=kind, programme=programme,
                    filename=name[:200], state="queued", columns="[]", rows=0, accepted=0,
                    rejected=0, created=0, updated=0, unchanged=0, bytes_read=0,
                    bytes_total=0, author=author, runner=runner(), check_only=check)
    session.add(job)
    session.flush()
    return job


def runner() -> str:
    """This process, as a job names the process that imports it."""
    return f"{socket.gethostname()}:{os.getpid()}"[:80]


def _alive(name: str | None) -> bool:
    host, _, pid = (name or "").rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return True  # another machine's process: it says for itself
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def check_interrupted(session: Session, job: ImportJob) -> ImportJob:
    """A job whose importing process is gone is failed (``interrupted``)."""
    if job.state not in FINISHED and not _alive(job.runner):
        job.state, job.finished_at = "failed", dt.datetime.now(dt.UTC)
        job.error = ("interrupted: central stopped during the import; import the file again "
                     "(nothing is imported twice)")
        session.flush()
    return job


def _handler(job: ImportJob, region: str) -> BatchHandler:
    author = f"import {job.id[:8]}" + (f" by {job.author}" if job.author else "")
    if job.kind == PARTNER_MEMBERS:
        assert job.programme is not None
        return partner_members.member_handler(job.programme, region=region, author=author)
    return customer_imports.row_handler(region=region, author=author)


class _Recorder:
    """Writes the job's progress and rejections after each batch (its own transaction)."""

    def __init__(self, sessions: Callable[[], Session], job_id: str) -> None:
        self.sessions, self.job_id = sessions, job_id
        self.pending: list[Rejection] = []
        self.read = self.total = 0

    def add(self, rejection: Rejection) -> None:  # RejectReport's interface
        self.pending.append(rejection)

    def bytes(self, step: Progress) -> None:
        self.read, self.total = step.done, step.total or self.total

    def save(self, result: ImportResult, **final: Any) -> None:
        with self.sessions() as session:
            if self.pending:
                session.execute(insert(ImportRejection), [
                    {"job_id": self.job_id, "line": r.line, "reason": r.reason,
                     "cells": json.dumps(r.values, ensure_ascii=False)} for r in self.pending])
                self.pending = []
            session.execute(update(ImportJob).where(ImportJob.id == self.job_id).values(
                rows=result.rows, accepted=result.accepted, rejected=result.rejected,
                created=result.outcomes["created"], updated=result.outcomes["updated"],
                unchanged=result.outcomes["unchanged"], bytes_read=self.read,
                bytes_total=self.total, **final))
            session.commit()


def run(sessions: Callable[[], Session], job_id: str, path: Path, *, region: str,
        batch_size: int = BATCH) -> None:
    """Import ``path`` as job ``job_id`` says, recording its progress; the file is removed
    at the end. Never raises: a failure is the job's state and error."""
    recorder = _Recorder(sessions, job_id)
    result = ImportResult(applied=True)
    try:
        with sessions() as session:
            job = get(session, job_id)
            handler, check_only = _handler(job, region), job.check_only
            job.state, job.started_at = "running", dt.datetime.now(dt.UTC)
            session.commit()
        with open_table(path, progress=recorder.bytes) as table:
            with sessions() as session:
                session.execute(update(ImportJob).where(ImportJob.id == job_id).values(
                    columns=json.dumps([c for c in table.header if c], ensure_ascii=False)))
                session.commit()
            result = run_import(table, handler, sessions, batch_size=batch_size,
                                apply=not check_only, rejects=recorder,  # type: ignore[arg-type]
                                progress=recorder.save)
        recorder.save(result, state="done", finished_at=dt.datetime.now(dt.UTC))
    except (ImportAborted, TabularError, NotFound) as exc:
        result = exc.result if isinstance(exc, ImportAborted) else result
        error = f"the file cannot be read: {exc}" if isinstance(exc, TabularError) else str(exc)
        recorder.save(result, state="failed", error=error, finished_at=dt.datetime.now(dt.UTC))
    except Exception as exc:  # the thread's last word: the job says what happened
        log.exception("import %s failed", job_id)
        recorder.save(result, state="failed", error=f"unexpected error: {exc}",
                      finished_at=dt.datetime.now(dt.UTC))
    finally:
        path.unlink(missing_ok=True)


def start(sessions: Callable[[], Session], job_id: str, path: Path, *,
          region: str) -> threading.Thread:
    """Run the import in a thread of this process."""
    thread = threading.Thread(target=run, args=(sessions, job_id, path),
                              kwargs={"region": region}, name=f"import-{job_id[:8]}",
                              daemon=True)
    thread.start()
    return thread


def start_upload(session: Session, sessions: Callable[[], Session], *, kind: str | None,
                 programme: str | None, upload: Any, author: str | None, region: str,
                 check: bool = False) -> dict[str, Any]:
    """Queue an import of ``upload`` (a werkzeug ``FileStorage``, saved to disk as it is)
    and start it in a thread; the job's wire. Bad input is Invalid naming the field."""
    job = create(session, kind=kind, programme=programme,
                 filename=getattr(upload, "filename", None), author=author, check=check)
    path = upload_path(job.id, Path(job.filename).suffix)
    upload.save(path)
    size = path.stat().st_size
    if size == 0:
        path.unlink(missing_ok=True)
        session.rollback()
        raise Invalid("invalid import", {"file": ["the file is empty"]})
    job.bytes_total = size
    wire = job_wire(job)
    session.commit()
    start(sessions, job.id, path, region=region)
    return wire


def upload_path(job_id: str, suffix: str, folder: str | os.PathLike[str] | None = None) -> Path:
    """Where an uploaded file waits for its import (removed when the import ends)."""
    import tempfile

    base = Path(folder or tempfile.gettempdir()) / "tessera-imports"
    base.mkdir(parents=True, exist_ok=True)
    return base / f"{job_id}{suffix.lower()}"


def report_header(job: ImportJob) -> list[str]:
    return ["line", "reason", *json.loads(job.columns)]


def report_rows(session: Session, job: ImportJob) -> Iterator[list[Any]]:
    """The rejected rows in line order: line, reason, then the file's cells."""
    columns = json.loads(job.columns)
    query = (select(ImportRejection.line, ImportRejection.reason, ImportRejection.cells)
             .where(ImportRejection.job_id == job.id).order_by(ImportRejection.line)
             .execution_options(yield_per=1000))
    for line, reason, cells in session.execute(query):
        values = json.loads(cells)
        yield [line, reason, *(values.get(c, "") for c in columns)]
