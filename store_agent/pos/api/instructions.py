"""Instructions to tills at the store (SPEC S4) and the message to the seller.

Central sends them on the store's own stream (``instruction`` and ``seller_message``
entities); the till asks which instructions are current for its signed-in cashier and
reports each one it showed. The first report of an instruction by a cashier writes a
``seen`` outbox entry in the same transaction; every later report is a no-op, so central
hears of it exactly once.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from typing import Any

from flask.views import MethodView
from marshmallow import Schema, fields, validate

from store_agent.pos.api.blueprint import Blueprint
from store_agent.pos.api.context import PosContext
from store_agent.pos.api.errors import error
from store_agent.sqlite_store import LocalStore
from store_agent.sync import outbox

CASHIER = fields.String(load_default=None, allow_none=True,
                        validate=validate.Length(min=1, max=32))


class UnknownInstruction(LookupError):
    """The till reports an instruction this store does not hold."""


def _at(text: str | None) -> dt.datetime | None:
    if not text:
        return None
    at = dt.datetime.fromisoformat(text)
    return at if at.tzinfo else at.replace(tzinfo=dt.UTC)


def current(conn: sqlite3.Connection, cashier: str | None,
            now: dt.datetime) -> list[dict[str, Any]]:
    """The instructions valid at ``now`` for ``cashier`` (those for everyone, and theirs),
    oldest first, each with whether this cashier has reported it seen."""
    rows = conn.execute(
        "SELECT i.id, i.text, i.scroll, i.valid_from, i.valid_until, i.cashier, "
        "s.seen_at FROM instructions i LEFT JOIN instructions_seen s "
        "ON s.instruction = i.id AND s.cashier = ? ORDER BY CAST(i.id AS INTEGER), i.id",
        (cashier or "",)).fetchall()
    found = []
    for id_, text, scroll, starts, ends, only_for, seen_at in rows:
        if only_for is not None and only_for != cashier:
            continue
        start, end = _at(starts), _at(ends)
        if (start is not None and now < start) or (end is not None and now >= end):
            continue
        found.append({"id": id_, "text": text, "scroll": bool(scroll), "valid_from": starts,
                      "valid_until": ends, "seen": seen_at is not None})
    return found


def mark_seen(store: LocalStore, instruction: str, cashier: str | None,
              now: dt.datetime) -> bool:
    """Record that ``cashier`` saw ``instruction``; True the first time (an outbox entry
    was written), False when it was known already."""
    with store.write() as conn:
        if conn.execute("SELECT 1 FROM instructions WHERE id = ?",
                        (instruction,)).fetchone() is None:
            raise UnknownInstruction(f"no instruction {instruction!r} at this store")
        seen_at = now.astimezone(dt.UTC).isoformat()
        done = conn.execute("INSERT OR IGNORE INTO instructions_seen (instruction, cashier, "
                            "seen_at) VALUES (?, ?, ?)", (instruction, cashier or "", seen_at))
        if not done.rowcount:
            return False
        outbox.append(conn, "seen", f"seen:{instruction}:{cashier or ''}",
                      {"instruction": instruction, "cashier": cashier, "seen_at": seen_at},
                      now)
        return True


def seller_message(conn: sqlite3.Connection, store_code: str) -> str | None:
    row = conn.execute("SELECT text FROM seller_messages WHERE store = ?",
                       (store_code,)).fetchone()
    return row[0] if row else None


class CurrentArgs(Schema):
    cashier = CASHIER


class InstructionOut(Schema):
    id = fields.String()
    text = fields.String()
    scroll = fields.Boolean(metadata={"description": "scroll it across the till"})
    valid_from = fields.String(allow_none=True)
    valid_until = fields.String(allow_none=True)
    seen = fields.Boolean(metadata={"description": "this cashier reported it seen"})


class CurrentOut(Schema):
    instructions = fields.List(fields.Nested(InstructionOut))
    seller_message = fields.String(allow_none=True, metadata={
        "description": "the store's message to the seller: a nudge (record the customer)"})


class SeenIn(Schema):
    cashier = CASHIER


class SeenOut(Schema):
    instruction = fields.String()
    first = fields.Boolean(metadata={"description": "false: it was reported already"})


def create_blueprint(pos: PosContext) -> Blueprint:
    store, store_code, clock = pos.store, pos.store_code, pos.clock
    blp = Blueprint("pos-instructions", __name__, url_prefix="/pos/v1/instructions",
                    description="Head office's instructions to this store's tills, and its "
                                "message to the seller")

    @blp.route("")
    class Current(MethodView):
        @blp.arguments(CurrentArgs, location="query")
        @blp.response(200, CurrentOut)
        def get(self, args: dict[str, Any]) -> Any:
            """The instructions to show now (to the cashier named), and the seller message."""
            with store.read() as conn:
                return {"instructions": current(conn, args.get("cashier"), clock()),
                        "seller_message": seller_message(conn, store_code)}

    @blp.route("/<instruction>/seen")
    class Seen(MethodView):
        @blp.arguments(SeenIn)
        @blp.response(200, SeenOut)
        @blp.alt_response(404, description="no such instruction at this store")
        def post(self, data: dict[str, Any], instruction: str) -> Any:
            """Report that the cashier saw it (repeats are harmless: central hears once)."""
            try:
                first = mark_seen(store, instruction, data.get("cashier"), clock())
            except UnknownInstruction as exc:
                return error(404, str(exc))
            return {"instruction": instruction, "first": first}

    return blp
