"""REST for the fleet: which stores are online, how far behind they are (SPEC N6)."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from marshmallow import Schema, fields

from central.api.requests import Blueprint
from central.services import fleet
from central.transactions import db_session

fleet_blp = Blueprint("fleet", __name__, url_prefix="/api/v1/fleet",
                      description="Liveness, lag and backlog of every store")


class FleetArgs(Schema):
    online = fields.Boolean(metadata={"description": "only stores online (true) or not"})


class StreamLagOut(Schema):
    stream = fields.String()
    applied = fields.Integer(metadata={"description": "version the store last reported"})
    head = fields.Integer(metadata={"description": "central's latest version"})
    lag = fields.Integer(metadata={"description": "head minus applied"})


class FleetStoreOut(Schema):
    code = fields.String()
    name = fields.String()
    group = fields.String(allow_none=True)
    active = fields.Boolean()
    online = fields.Boolean(metadata={"description": "from the store's birth until its "
                                                     "last will or farewell"})
    state = fields.String(metadata={"description": "online; silent (online, but nothing "
                                                   "heard for 2 minutes); offline; never"})
    last_seen = fields.AwareDateTime(allow_none=True,
                                     metadata={"description": "last message from the store"})
    changed_at = fields.AwareDateTime(allow_none=True,
                                      metadata={"description": "when online last changed"})
    session = fields.Integer(allow_none=True,
                             metadata={"description": "connection counter of the store"})
    agent_version = fields.String(allow_none=True)
    printer_state = fields.String(allow_none=True, metadata={
        "description": "the fiscal printer as the store's birth last reported it: ok, warning, "
                       "error, offline or unknown; null when not reported"})
    printer_message = fields.String(allow_none=True)
    protocol_version = fields.Integer(allow_none=True)
    epoch = fields.String(allow_none=True,
                          metadata={"description": "history of the store's outbox"})
    log_epoch = fields.String(allow_none=True,
                              metadata={"description": "central log history it follows"})
    outbox_head = fields.Integer(allow_none=True,
                                 metadata={"description": "newest outbox seq it reported"})
    acked_seq = fields.Integer(allow_none=True,
                               metadata={"description": "highest seq central committed"})
    backlog = fields.Integer(allow_none=True,
                             metadata={"description": "outbox entries central lacks"})
    lag = fields.Integer(metadata={"description": "sum of the lag of its streams"})
    streams = fields.List(fields.Nested(StreamLagOut))


@fleet_blp.route("/")
class Fleet(MethodView):
    @fleet_blp.arguments(FleetArgs, location="query")
    @fleet_blp.response(200, FleetStoreOut(many=True))
    @fleet_blp.paginate()
    def get(self, args: dict[str, Any], pagination_parameters: Any) -> list[Any]:
        """Every store: online, last seen, versions, lag per stream and upstream backlog."""
        items, total = fleet.fleet(db_session(), pagination_parameters.page,
                                   pagination_parameters.page_size, args.get("online"))
        pagination_parameters.item_count = total
        return items


FLEET_BLUEPRINTS = (fleet_blp,)
