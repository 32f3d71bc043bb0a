"""REST for enrolling outlets: one-time codes (head office) and their redemption (agent)."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from flask import current_app
from flask.views import MethodView
from marshmallow import Schema, fields, validate

from central.api.access import now
from central.api.requests import Blueprint
from central.services import broker_access, enrolment
from central.transactions import db_session, transactional

log = logging.getLogger(__name__)

codes_blp = Blueprint("enrolment-codes", __name__, url_prefix="/api/v1/stores",
                      description="One-time codes to enrol a store's PC")
enrolments_blp = Blueprint("enrolments", __name__, url_prefix="/api/v1/enrolments",
                           description="A shop PC exchanges its code for its identity")


class CodeIn(Schema):
    # 5 minutes to 7 days, as the service (and docs/install-agent.md) says.
    ttl_hours = fields.Float(load_default=24, validate=validate.Range(min=5 / 60, max=168))


class CodeOut(Schema):
    store = fields.String()
    code = fields.String(metadata={"description": "shown once; type it on the shop PC"})
    expires_at = fields.AwareDateTime()


class RedeemIn(Schema):
    # Any text: a mistyped code (empty, too long) gets the service's one refusal message.
    code = fields.String(required=True)


class BrokerOut(Schema):
    url = fields.String()
    username = fields.String()
    password = fields.String()


class RedeemOut(Schema):
    store = fields.Dict()
    broker = fields.Nested(BrokerOut)
    central_url = fields.String(allow_none=True)
    streams = fields.Dict(keys=fields.String(), values=fields.Integer())


@codes_blp.route("/<code>/enrolment-codes")
class EnrolmentCodes(MethodView):
    @codes_blp.arguments(CodeIn)
    @codes_blp.response(201, CodeOut)
    @transactional
    def post(self, data: dict[str, Any], code: str) -> Any:
        """Issue a one-time enrolment code for a store (earlier unused codes stop working)."""
        return enrolment.issue_code(db_session(), code, now(),
                                    dt.timedelta(hours=data["ttl_hours"]))


@enrolments_blp.route("/", strict_slashes=False)  # the docs' spelling, without the slash
class Enrolments(MethodView):
    @enrolments_blp.arguments(RedeemIn)
    @enrolments_blp.response(200, RedeemOut)
    def post(self, data: dict[str, Any]) -> Any:
        """Exchange a one-time code for the store identity and its broker credentials."""
        settings = current_app.extensions["tessera.settings"]
        if settings.broker_public_url is None:
            log.error("enrolment refused: TESSERA_BROKER_PUBLIC_URL is not set (or names "
                      "central's own listener), and stores must never get that listener")
            raise enrolment.NotConfigured(
                "head office has no broker address for stores (TESSERA_BROKER_PUBLIC_URL "
                "is unset or names central's private listener): ask head office to set it")
        session = db_session()
        try:
            result = enrolment.redeem(session, data["code"], now(),
                                      settings.broker_public_url, settings.public_url)
            session.commit()
        except BaseException:
            session.rollback()
            raise
        # The store's credentials are committed: let the broker know them now.  Should the
        # reload fail, `tessera central broker-sync` (or the next enrolment) catches up.
        try:
            broker_access.sync(session, settings)
        except broker_access.BrokerAccessError:
            log.exception("broker files not updated after enrolling %s",
                          result["store"]["code"])
        log.info("store %s enrolled", result["store"]["code"])
        return result


ENROLMENT_BLUEPRINTS = (codes_blp, enrolments_blp)
