"""Footfall counters at the store (SPEC S7): people counters push in/out counts per interval.

A counter on the store LAN posts its readings to ``POST /pos/v1/footfall`` (the format is
in docs/till.md). A request is accepted whole or refused whole with the reason (nothing
accepted before is touched); a reading is identified by counter and interval start, so a
counter repeating a push changes nothing, while a repeat with other counts is refused
(409) rather than silently replacing what central may already hold. Each new reading
writes a ``footfall`` outbox entry in the same transaction: central gets it exactly once.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from typing import Any

from flask.views import MethodView
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from store_agent.pos.api.blueprint import Blueprint
from store_agent.pos.api.context import PosContext
from store_agent.pos.api.errors import error
from store_agent.sync import outbox

MAX_READINGS = 1000
MAX_COUNT = 100_000
MAX_MINUTES = 24 * 60
FUTURE = dt.timedelta(minutes=10)  # a reading may end a little after our clock (drift)
COUNTER = validate.Regexp(r"^[A-Za-z0-9._-]{1,64}$",
                          error="1 to 64 letters, digits, '.', '_', '-'")


class ReadingIn(Schema):
    start = fields.AwareDateTime(required=True, metadata={
        "description": "start of the interval, ISO 8601 with offset"})
    minutes = fields.Integer(required=True, strict=True,
                             validate=validate.Range(min=1, max=MAX_MINUTES))
    in_ = fields.Integer(required=True, strict=True, data_key="in",
                         validate=validate.Range(min=0, max=MAX_COUNT))
    out = fields.Integer(required=True, strict=True,
                         validate=validate.Range(min=0, max=MAX_COUNT))


class FootfallIn(Schema):
    counter = fields.String(required=True, validate=COUNTER)
    readings = fields.List(fields.Nested(ReadingIn), required=True,
                           validate=validate.Length(min=1, max=MAX_READINGS))

    @validates_schema
    def _one_each(self, data: dict[str, Any], **_: Any) -> None:
        starts = [r["start"].astimezone(dt.UTC) for r in data.get("readings", [])]
        if len(set(starts)) != len(starts):
            raise ValidationError("two readings of the same interval start", "readings")


class FootfallOut(Schema):
    accepted = fields.Integer(metadata={"description": "new readings"})
    duplicates = fields.Integer(metadata={"description": "readings held already, unchanged"})


class ReadingConflict(ValueError):
    """A reading of an interval held already with other counts."""


class ReadingInFuture(ValueError):
    """A reading of an interval that has not ended yet by the store's clock."""


def _iso(at: dt.datetime) -> str:
    return at.astimezone(dt.UTC).isoformat()


def record(conn: sqlite3.Connection, counter: str, readings: list[dict[str, Any]],
           now: dt.datetime) -> tuple[int, int]:
    """Store new readings and queue them for central; (accepted, duplicates). Raises
    before writing anything if one conflicts or lies in the future."""
    new = []
    duplicates = 0
    for reading in readings:
        start = _iso(reading["start"])
        if reading["start"] + dt.timedelta(minutes=reading["minutes"]) > now + FUTURE:
            raise ReadingInFuture(f"the reading of {start} ends after the store's clock "
                                  f"({_iso(now)}): counts are sent once an interval is over")
        held = conn.execute("SELECT minutes, in_count, out_count FROM footfall "
                            "WHERE counter = ? AND start = ?", (counter, start)).fetchone()
        values = (reading["minutes"], reading["in_"], reading["out"])
        if held is None:
            new.append((start, *values))
        elif tuple(held) == values:
            duplicates += 1
        else:
            raise ReadingConflict(
                f"counter {counter!r} sent the interval {start} before with other counts "
                f"(minutes, in, out = {tuple(held)}, now {values}): nothing of this push "
                "was recorded")
    received = _iso(now)
    conn.executemany("INSERT INTO footfall (counter, start, minutes, in_count, out_count, "
                     "received_at) VALUES (?, ?, ?, ?, ?, ?)",
                     [(counter, *row, received) for row in new])
    outbox.append_many(conn, [
        ("footfall", f"footfall:{counter}:{start}",
         {"counter": counter, "start": start, "minutes": minutes, "in": ins, "out": outs},
         now) for start, minutes, ins, outs in new])
    return len(new), duplicates


def create_blueprint(pos: PosContext) -> Blueprint:
    store, clock = pos.store, pos.clock
    blp = Blueprint("pos-footfall", __name__, url_prefix="/pos/v1/footfall",
                    description="People counters push their in/out counts per interval")

    @blp.route("")
    class Footfall(MethodView):
        @blp.arguments(FootfallIn)
        @blp.response(200, FootfallOut)
        @blp.alt_response(409, description="an interval sent before with other counts")
        def post(self, data: dict[str, Any]) -> Any:
            """Record a counter's readings (all or none); a repeated push changes nothing."""
            try:
                with store.write() as conn:
                    accepted, duplicates = record(conn, data["counter"], data["readings"],
                                                  clock())
            except ReadingConflict as exc:
                return error(409, str(exc), {"readings": [str(exc)]})
            except ReadingInFuture as exc:
                return error(422, str(exc), {"readings": [str(exc)]})
            return {"accepted": accepted, "duplicates": duplicates}

    return blp
