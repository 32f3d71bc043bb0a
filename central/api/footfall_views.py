"""REST for footfall (SPEC S7): visits per store, store-local day and hour, and conversion."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask.views import MethodView
from marshmallow import Schema, fields, validate

from central.api.requests import Blueprint
from central.services import footfall
from central.transactions import db_session

footfall_blp = Blueprint("footfall", __name__, url_prefix="/api/v1/footfall",
                         description="Visits counted by the stores' people counters, per "
                                     "store-local day and hour, and the conversion rate "
                                     "(sales per 100 visits)")


class PeriodArgs(Schema):
    since = fields.Date(metadata={"description": "first store-local day (default: six days "
                                                 "before until)"})
    until = fields.Date(metadata={"description": "last store-local day (default: today, UTC)"})
    store = fields.String(validate=validate.Length(min=1, max=64))


class LineOut(Schema):
    store = fields.String()
    day = fields.Date()
    hour = fields.Integer()
    visits = fields.Integer()
    sales = fields.Integer()
    conversion = fields.Decimal(as_string=True, allow_none=True,
                                metadata={"description": "sales per 100 visits"})


class FootfallOut(Schema):
    total = fields.Nested(LineOut)
    days = fields.List(fields.Nested(LineOut), metadata={"description": "per day and store"})
    hours = fields.List(fields.Nested(LineOut), metadata={"description": "per hour of day"})
    cells = fields.List(fields.Nested(LineOut),
                        metadata={"description": "per store, day and hour"})


def _line(line: footfall.Line, **label: Any) -> dict[str, Any]:
    return {**label, "visits": line.visits, "sales": line.sales,
            "conversion": line.conversion}


def report(since: dt.date, until: dt.date, store: str | None) -> dict[str, Any]:
    found = footfall.cells(db_session(), since, until, store)
    return {
        "total": _line(footfall.total(found)),
        "days": [_line(line, day=line.label[0], store=line.label[1])
                 for line in footfall.by_day(found)],
        "hours": [_line(line, hour=line.label[0]) for line in footfall.by_hour(found)],
        "cells": [_line(footfall.Line((), c.visits, c.sales), store=c.store, day=c.day,
                        hour=c.hour) for c in found],
    }


@footfall_blp.route("/")
class Footfall(MethodView):
    @footfall_blp.arguments(PeriodArgs, location="query")
    @footfall_blp.response(200, FootfallOut)
    def get(self, args: dict[str, Any]) -> Any:
        """Visits and sales of a period (all stores, or one), with the conversion rate."""
        until = args.get("until") or dt.datetime.now(dt.UTC).date()
        return report(args.get("since") or until - dt.timedelta(days=6), until,
                      args.get("store"))


FOOTFALL_BLUEPRINTS = (footfall_blp,)
