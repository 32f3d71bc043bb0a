"""REST for instructions to tills and the message to the seller (SPEC S4)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask.views import MethodView
from marshmallow import Schema, fields, validate

from central.api.requests import Blueprint
from central.services import instructions
from central.transactions import db_session, transactional

instructions_blp = Blueprint(
    "instructions", __name__, url_prefix="/api/v1/instructions",
    description="Instructions to tills: a text for some stores, groups or one cashier, "
                "valid from/until, scrolling at the till or not; who has seen it")
seller_blp = Blueprint("seller-messages", __name__, url_prefix="/api/v1/seller-messages",
                       description="Each store's message to the seller (a nudge at the till)")

CODES = fields.List(fields.String(validate=validate.Length(min=1, max=64)),
                    validate=validate.Length(max=1000))
TEXT = validate.Length(min=1, max=instructions.MAX_TEXT)


class InstructionIn(Schema):
    text = fields.String(required=True, validate=TEXT)
    scroll = fields.Boolean(load_default=False)
    valid_from = fields.AwareDateTime(load_default=None, allow_none=True)
    valid_until = fields.AwareDateTime(load_default=None, allow_none=True)
    stores = CODES
    groups = CODES
    cashier = fields.String(load_default=None, allow_none=True,
                            validate=validate.Length(min=1, max=32))


class InstructionPatch(Schema):
    text = fields.String(validate=TEXT)
    scroll = fields.Boolean()
    valid_from = fields.AwareDateTime(allow_none=True)
    valid_until = fields.AwareDateTime(allow_none=True)
    stores = CODES
    groups = CODES
    cashier = fields.String(allow_none=True, validate=validate.Length(min=1, max=32))


class InstructionOut(Schema):
    id = fields.Integer()
    text = fields.String()
    scroll = fields.Boolean()
    valid_from = fields.String(allow_none=True)
    valid_until = fields.String(allow_none=True)
    cashier = fields.String(allow_none=True)
    stores = fields.List(fields.String())
    groups = fields.List(fields.String())
    sent_to = fields.List(fields.String(), metadata={"description": "the stores it reaches"})
    created_at = fields.String(allow_none=True)


class CopyIn(Schema):
    stores = fields.List(fields.String(validate=validate.Length(min=1, max=64)),
                         required=True, validate=validate.Length(min=1, max=1000))


class SeenOut(Schema):
    store = fields.String()
    cashier = fields.String(allow_none=True)
    seen_at = fields.String()


class InstructionListArgs(Schema):
    store = fields.String(validate=validate.Length(min=1, max=64))


class SellerMessageIn(Schema):
    text = fields.String(required=True, allow_none=True,
                         validate=validate.Length(max=instructions.MAX_SELLER_TEXT))


class SellerMessageOut(Schema):
    store = fields.String()
    text = fields.String(allow_none=True)


@instructions_blp.route("/")
class Instructions(MethodView):
    @instructions_blp.arguments(InstructionListArgs, location="query")
    @instructions_blp.response(200, InstructionOut(many=True))
    @instructions_blp.paginate()
    def get(self, args: dict[str, Any], pagination_parameters: Any) -> list[Any]:
        """Instructions, newest first, optionally those reaching one store."""
        rows, total = instructions.list_instructions(
            db_session(), pagination_parameters.page, pagination_parameters.page_size,
            args.get("store"))
        pagination_parameters.item_count = total
        return [instructions.view(i) for i in rows]

    @instructions_blp.arguments(InstructionIn)
    @instructions_blp.response(201, InstructionOut)
    @transactional
    def post(self, data: dict[str, Any]) -> Any:
        """Write an instruction; the stores concerned receive it."""
        return instructions.view(instructions.create(
            db_session(), data["text"], stores=data.get("stores") or [],
            groups=data.get("groups") or [], cashier=data.get("cashier"),
            scroll=data["scroll"], valid_from=data["valid_from"],
            valid_until=data["valid_until"]))


@instructions_blp.route("/<int:instruction_id>")
class InstructionOne(MethodView):
    @instructions_blp.response(200, InstructionOut)
    def get(self, instruction_id: int) -> Any:
        return instructions.view(instructions.get(db_session(), instruction_id))

    @instructions_blp.arguments(InstructionPatch)
    @instructions_blp.response(200, InstructionOut)
    @transactional
    def patch(self, data: dict[str, Any], instruction_id: int) -> Any:
        """Change it; a store no longer concerned is told to drop it."""
        return instructions.view(instructions.update(db_session(), instruction_id, data))


@instructions_blp.route("/<int:instruction_id>/end")
class InstructionEnd(MethodView):
    @instructions_blp.response(200, InstructionOut)
    @transactional
    def post(self, instruction_id: int) -> Any:
        """Withdraw it now: its validity ends and the tills stop showing it."""
        return instructions.view(instructions.end(db_session(), instruction_id,
                                                  dt.datetime.now(dt.UTC)))


@instructions_blp.route("/<int:instruction_id>/copy")
class InstructionCopy(MethodView):
    @instructions_blp.arguments(CopyIn)
    @instructions_blp.response(201, InstructionOut)
    @transactional
    def post(self, data: dict[str, Any], instruction_id: int) -> Any:
        """Copy it (text, scroll, validity) to other stores, as a new instruction."""
        return instructions.view(instructions.copy(db_session(), instruction_id,
                                                   data["stores"]))


@instructions_blp.route("/<int:instruction_id>/seen")
class InstructionSeen(MethodView):
    @instructions_blp.response(200, SeenOut(many=True))
    def get(self, instruction_id: int) -> Any:
        """Who has seen it: store, cashier and when (as the till reported)."""
        return [instructions.seen_view(s)
                for s in instructions.seen_by(db_session(), instruction_id)]


@seller_blp.route("/<code>")
class SellerMessage(MethodView):
    @seller_blp.response(200, SellerMessageOut)
    def get(self, code: str) -> Any:
        return {"store": code, "text": instructions.seller_message(db_session(), code)}

    @seller_blp.arguments(SellerMessageIn)
    @seller_blp.response(200, SellerMessageOut)
    @transactional
    def put(self, data: dict[str, Any], code: str) -> Any:
        """Set the store's message to the seller (null or empty removes it)."""
        return {"store": code, "text": instructions.set_seller_message(
            db_session(), code, data["text"], dt.datetime.now(dt.UTC))}


INSTRUCTION_BLUEPRINTS = (instructions_blp, seller_blp)
