"""REST for receipt profiles: the chain's default and per-store overrides (SPEC S3)."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from marshmallow import Schema, fields, validate

from central.api.access import now
from central.api.requests import Blueprint
from central.services import receipts
from central.transactions import db_session, transactional

receipts_blp = Blueprint("receipt-profiles", __name__, url_prefix="/api/v1/receipt-profiles",
                         description="Receipt header, logo, footer and e-mail receipts: "
                                     "'default' for the chain, or a store code")

class EmailIn(Schema):
    policy = fields.String(allow_none=True, validate=validate.OneOf(receipts.POLICIES),
                           metadata={"description": "never, propose (the till asks) or "
                                                    "always (whenever an address is known)"})
    sender = fields.String(allow_none=True, validate=validate.Length(max=255))
    subject = fields.String(allow_none=True, validate=validate.Length(max=255),
                            metadata={"description": "template; placeholders {store}, "
                                      "{store_name}, {number}, {date}, {total}, {receipt}"})
    body = fields.String(allow_none=True, validate=validate.Length(max=10000),
                         metadata={"description": "template, as the subject"})
    document_types = fields.List(fields.String(validate=validate.OneOf(
        receipts.DOCUMENT_TYPES)), allow_none=True)


class ProfileIn(Schema):
    header = fields.List(fields.String(), allow_none=True,
                         metadata={"description": f"at most {receipts.MAX_LINES} lines of "
                                                  f"{receipts.LINE_WIDTH} characters"})
    footer = fields.List(fields.String(), allow_none=True)
    logo_png = fields.String(allow_none=True,
                             metadata={"description": "a PNG, base64, at most 64 KiB"})
    email = fields.Nested(EmailIn, allow_none=True)


class EmailOut(Schema):
    policy = fields.String(allow_none=True)
    sender = fields.String(allow_none=True)
    subject = fields.String(allow_none=True)
    body = fields.String(allow_none=True)
    document_types = fields.List(fields.String(), allow_none=True)


class ProfileOut(Schema):
    scope = fields.String()
    version = fields.Integer()
    header = fields.List(fields.String(), allow_none=True)
    footer = fields.List(fields.String(), allow_none=True)
    logo_png = fields.String(allow_none=True)
    email = fields.Nested(EmailOut)
    updated_at = fields.String(allow_none=True)


@receipts_blp.route("/")
class Profiles(MethodView):
    @receipts_blp.response(200, ProfileOut(many=True))
    def get(self) -> Any:
        """The default profile and every store's override."""
        return [receipts.wire(p) for p in receipts.list_profiles(db_session())]


@receipts_blp.route("/<scope>")
class Profile(MethodView):
    @receipts_blp.response(200, ProfileOut)
    def get(self, scope: str) -> Any:
        """One profile: 'default' or a store code."""
        return receipts.wire(receipts.get(db_session(), scope))

    @receipts_blp.arguments(ProfileIn)
    @receipts_blp.response(200, ProfileOut)
    @transactional
    def put(self, data: dict[str, Any], scope: str) -> Any:
        """Set a profile; in a store's override, fields left out inherit the default."""
        return receipts.wire(receipts.put(db_session(), scope, data, now()))

    @receipts_blp.response(204)
    @transactional
    def delete(self, scope: str) -> None:
        """Remove a store's override: it follows the default again."""
        receipts.delete(db_session(), scope)


RECEIPT_BLUEPRINTS = (receipts_blp,)
