"""Importing a table of any length: rows handled one by one, committed in batches.

``run_import`` takes rows (from ``central.tabular.open_table``), a *row handler* and a way
to open database sessions. Each batch of rows is one transaction; each row inside it runs
in its own savepoint, so a rejected row changes nothing and the rest of the batch still
commits. Every rejected row (its line, the reason, its original values) goes to a
``RejectReport``, streamed to CSV and/or XLSX, never held in memory.

The handler contract (what makes an import idempotent):

- ``handler(session, row)`` validates one row and *upserts* it, matched by a natural key
  that the file carries (an external id, a card number, a mobile phone; a SKU for a price
  list), never by position or by an id the database invents. Applying the same row twice
  leaves the same state as applying it once.
- It returns what it did, a short word counted in the result: ``"created"``,
  ``"updated"``, or ``"unchanged"`` when the stored record already says what the row says
  (and then it writes nothing, so a re-import writes nothing and emits no change).
- A row it refuses raises ``RowRejected(reason)``; whatever it wrote for that row is
  rolled back with its savepoint. Any other exception stops the import: the batch in
  progress is rolled back, the batches before it stay committed, and ``ImportAborted``
  says from which line to look. Because of the first rule the whole file can simply be
  imported again.
- It does not commit or roll back itself.
- A handler that adds many rows may list ``Statistics`` in a ``statistics`` attribute:
  the runner has PostgreSQL analyze those tables as they grow (see the class).

With ``apply=False`` every batch runs and is then rolled back: a preview that finds every
rejected row and counts what would change, writing nothing.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import IO, Any, Protocol

from sqlalchemy import text
from sqlalchemy.orm import Session

from central.exports import CsvWriter, XlsxWriter
from central.tabular import Row, TabularError

SAMPLE_REJECTIONS = 100


class RowRejected(Exception):
    """The handler refuses one row, with the reason a user can act on."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class RowHandler(Protocol):
    def __call__(self, session: Session, row: Row) -> str: ...


class BatchHandler(Protocol):
    """A handler that takes a whole batch at once (bulk reads and writes).

    ``batch(session, rows)`` returns, for each row in order, its outcome or the
    ``RowRejected`` that refuses it; a refused row must have written nothing (check every
    row before the bulk writes, or give the row its own savepoint). An exception it
    raises stops the import as for a row handler.
    """

    def __call__(self, session: Session, row: Row) -> str: ...

    def batch(self, session: Session, rows: Sequence[Row]) -> list[str | RowRejected]: ...


@dataclass(frozen=True)
class Rejection:
    line: int
    reason: str
    values: dict[str, str]


@dataclass
class ImportResult:
    """What an import did (or, as a preview, would do)."""

    applied: bool
    rows: int = 0
    rejected: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    batches: int = 0
    last_line: int = 0
    # The first few rejections, for a screen; the report file has them all.
    sample: list[Rejection] = field(default_factory=list)

    @property
    def accepted(self) -> int:
        return self.rows - self.rejected


class ImportAborted(Exception):
    """The import stopped: the batches before ``line`` are committed, nothing after it."""

    def __init__(self, message: str, line: int, result: ImportResult) -> None:
        super().__init__(message)
        self.line = line
        self.result = result


class RejectReport:
    """Rejected rows streamed to a CSV and/or an XLSX file: line, reason, then the row.

    ``columns`` are the file's columns (``Table.header``), so the report can be corrected
    and imported again as it is (after removing the first two columns).
    """

    def __init__(self, columns: Sequence[str], *, csv_path: str | os.PathLike[str] | None = None,
                 xlsx_path: str | os.PathLike[str] | None = None) -> None:
        self.columns = [c for c in columns if c]
        heading = ["line", "reason", *self.columns]
        self.count = 0
        self._csv_file: IO[str] | None = None
        self._csv: CsvWriter | None = None
        self._xlsx: XlsxWriter | None = None
        self._xlsx_path = xlsx_path
        if csv_path is not None:
            # utf-8-sig: Excel opens it as UTF-8.
            self._csv_file = open(csv_path, "w", encoding="utf-8-sig", newline="")  # noqa: SIM115
            self._csv = CsvWriter(self._csv_file, heading)
        if xlsx_path is not None:
            self._xlsx = XlsxWriter(heading, title="Rejected rows")

    def add(self, rejection: Rejection) -> None:
        values = [rejection.line, rejection.reason,
                  *(rejection.values.get(c, "") for c in self.columns)]
        if self._csv:
            self._csv.write(values)
        if self._xlsx:
            self._xlsx.write(values)
        self.count += 1

    def close(self) -> None:
        if self._csv_file:
            self._csv_file.close()
            self._csv_file = None
        if self._xlsx and self._xlsx_path is not None:
            self._xlsx.save(self._xlsx_path)
            self._xlsx = None

    def __enter__(self) -> RejectReport:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


class Statistics:
    """Keeps the planner's statistics of the tables an import grows up to date.

    An import into an empty or small registry grows its tables many times over within
    minutes; until ANALYZE runs, PostgreSQL has no column statistics for them and plans a
    batch's look-ups (a thousand mobiles, card numbers) as sequential scans, so each batch
    costs more than the one before (measured: 600 rows/s falling under 100 at 170k rows
    with autovacuum off). Autovacuum would analyze eventually; an import does not wait
    for it. A handler counts the rows it adds (``grew``); after each committed batch the
    runner calls ``refresh`` in a transaction of its own (no lock of the batch held), which
    analyzes the tables whenever the rows added since the last ANALYZE are as many as the
    planner believes the first table holds (at least ``least``): the planner is never
    more than twice wrong, and the tables are analyzed a logarithmic number of times.
    Nothing on SQLite, whose planner keeps no such statistics.
    """

    def __init__(self, *tables: str, least: int = 1000) -> None:
        if not tables or not all(t.isidentifier() for t in tables):
            raise ValueError("tables are plain table names")
        self.tables, self.least = tables, least
        self.added = 0
        self.believed: float | None = None
        self.analyzed = 0

    def grew(self, rows: int) -> None:
        """``rows`` were added to the tables by the batch in progress."""
        self.added += rows

    def refresh(self, session: Session) -> None:
        """Analyze the tables if they grew enough since the last time (see the class)."""
        if self.added == 0 or session.get_bind().dialect.name != "postgresql":
            self.added = 0
            return
        if self.believed is None:
            self.believed = self._reltuples(session)
        if self.added >= max(self.least, self.believed):
            session.execute(text(f"ANALYZE {', '.join(self.tables)}"))
            self.believed, self.added = self._reltuples(session), 0
            self.analyzed += 1

    def _reltuples(self, session: Session) -> float:
        believed = session.scalar(text("SELECT reltuples FROM pg_class WHERE oid = "
                                       "CAST(:table AS regclass)"), {"table": self.tables[0]})
        return max(float(believed or 0), 0.0)  # -1: never analyzed


def run_import(rows: Iterable[Row], handler: RowHandler | BatchHandler,
               sessions: Callable[[], Session], *,
               batch_size: int = 500, apply: bool = True,
               rejects: RejectReport | None = None,
               progress: Callable[[ImportResult], None] | None = None) -> ImportResult:
    """Feed ``rows`` to ``handler`` in batches of ``batch_size``, one transaction each.

    ``sessions`` makes a new session (a ``sessionmaker``, ``Database.sessions``).
    ``progress`` is called with the running result after each batch. A handler with a
    ``batch`` method (``BatchHandler``) gets each batch's readable rows at once.
    """
    bulk = getattr(handler, "batch", None)
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    result = ImportResult(applied=apply)
    iterator = iter(rows)
    finished = False
    while not finished:
        batch_rows = 0
        outcomes: Counter[str] = Counter()
        rejected: list[Rejection] = []
        pending: list[Row] = []
        first_line = result.last_line + 1
        stop: ImportAborted | None = None
        with sessions() as session:
            try:
                while batch_rows < batch_size:
                    try:
                        row = next(iterator)
                    except StopIteration:
                        finished = True
                        break
                    except TabularError as exc:
                        # The file cannot be read further: what was read is still good.
                        stop = ImportAborted(f"the file cannot be read further: {exc}",
                                             exc.line or first_line, result)
                        stop.__cause__ = exc
                        finished = True
                        break
                    batch_rows += 1
                    first_line = first_line if batch_rows > 1 else row.line
                    result.last_line = row.line
                    if row.error:
                        rejected.append(Rejection(row.line, row.error, row.values))
                        continue
                    if bulk is not None:
                        pending.append(row)
                        continue
                    try:
                        with session.begin_nested():
                            outcomes[handler(session, row)] += 1
                    except RowRejected as exc:
                        rejected.append(Rejection(row.line, exc.reason, row.values))
                if pending:
                    assert bulk is not None  # rows are held back only for a batch handler
                    for row, outcome in zip(pending, bulk(session, pending), strict=True):
                        if isinstance(outcome, RowRejected):
                            rejected.append(Rejection(row.line, outcome.reason, row.values))
                        else:
                            outcomes[outcome] += 1
                    rejected.sort(key=lambda r: r.line)
                if apply:
                    session.commit()
                else:
                    session.rollback()
            except Exception as exc:
                session.rollback()
                raise ImportAborted(
                    f"import stopped in the batch from line {first_line}: {exc} (the rows "
                    "before it are committed; the import can be run again)",
                    first_line, result) from exc
        grown = [s for s in getattr(handler, "statistics", ()) if s.added]
        if apply and grown:
            with sessions() as session:
                for statistics in grown:
                    statistics.refresh(session)
                session.commit()
        if batch_rows == 0 and stop is None:
            break
        result.rows += batch_rows
        result.rejected += len(rejected)
        result.outcomes.update(outcomes)
        result.batches += 1
        for rejection in rejected:
            if rejects is not None:
                rejects.add(rejection)
            if len(result.sample) < SAMPLE_REJECTIONS:
                result.sample.append(rejection)
        if progress:
            progress(result)
        if stop is not None:
            raise stop
    return result


def describe(result: ImportResult) -> dict[str, Any]:
    """The result as plain data (for JSON, a template, a CLI line)."""
    return {"applied": result.applied, "rows": result.rows, "accepted": result.accepted,
            "rejected": result.rejected, "outcomes": dict(result.outcomes),
            "batches": result.batches,
            "sample": [{"line": r.line, "reason": r.reason, "values": r.values}
                       for r in result.sample]}
