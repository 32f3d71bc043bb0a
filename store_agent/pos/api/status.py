"""/pos/v1/status and /pos/v1/central/clock: this store's sync state, and central's clock
asked over MQTT now."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from marshmallow import Schema, fields

from store_agent.pos.api.blueprint import Blueprint
from store_agent.pos.api.context import PosContext
from store_agent.pos.api.errors import error
from transport.rpc import CentralUnreachable, RequestFailed


class CentralClockOut(Schema):
    time = fields.String(metadata={"description": "central's time (ISO-8601, UTC)"})
    version = fields.String()
    protocol = fields.Integer()
    round_trip_ms = fields.Integer()


class StatusOut(Schema):
    store = fields.String()
    agent_version = fields.String()
    epoch = fields.String()
    broker_connected = fields.Boolean()
    central_online = fields.Boolean(allow_none=True)
    streams = fields.Dict(keys=fields.String(), values=fields.Integer())
    outbox_pending = fields.Integer()
    outbox_acked = fields.Integer()
    products = fields.Integer()
    sales = fields.Integer()
    fiscal_pending = fields.Integer(allow_none=True,
                                    metadata={"description": "sales without their fiscal "
                                              "receipt yet (null: no fiscal device)"})
    fiscal_printer = fields.Dict(allow_none=True,
                                 metadata={"description": "the fiscal device now: state "
                                           "(ok, warning, error, offline, busy, unknown) and "
                                           "the operator's messages (paper out, cover "
                                           "open...); null: no fiscal device"})


def create_blueprint(pos: PosContext) -> Blueprint:
    blp = Blueprint("status", __name__, url_prefix="/pos/v1",
                    description="This store's sync and outbox state; central's clock")

    @blp.route("/status")
    class Status(MethodView):
        @blp.response(200, StatusOut)
        def get(self) -> Any:
            """Sync and outbox state of this store."""
            return pos.status()

    @blp.route("/central/clock")
    class CentralClock(MethodView):
        @blp.response(200, CentralClockOut)
        @blp.alt_response(503, description="central unreachable (or no link to it)")
        def get(self) -> Any:
            """Central's clock and version, asked over MQTT now (503: unreachable)."""
            if pos.central_clock is None:
                return error(503, "this agent does not talk to central")
            try:
                return pos.central_clock()
            except RequestFailed as exc:
                return error(503, f"central unreachable: {exc}"
                             if isinstance(exc, CentralUnreachable) else str(exc))

    return blp
