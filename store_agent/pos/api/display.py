"""The customer display's part of the POS API (/pos/v1/display).

The till says what its customer should see (``PUT basket``: the lines, cards and customer
it holds, priced here by the same engine as the sale, or the sale just paid; or
``baskets/price`` with ``display``, which shows the basket it has just priced, so a scan
is priced once); the display follows
with server-sent events (``GET events``) and rotates the promotional content of the
agent's display folder (``GET content``, files under ``media/``).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

from flask import Response, abort, send_from_directory, stream_with_context
from flask.views import MethodView
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from store_agent.pos import display_content, till
from store_agent.pos.api.blueprint import Blueprint
from store_agent.pos.api.context import PosContext
from store_agent.pos.api.schemas import LineIn
from store_agent.pos.display import View, local_content

TILL = validate.Regexp(r"^[A-Za-z0-9._-]{1,32}$", error="1 to 32 letters, digits, '.', '_', '-'")
KEEPALIVE_SECONDS = 15.0
STREAM_SECONDS = 300.0  # then the browser reconnects by itself (EventSource)


def basket_schema(line: type[Schema]) -> type[Schema]:
    """The PUT body, with the lines of baskets/price (``line``)."""

    class DisplayBasketIn(_DisplayBasket):
        lines = fields.List(fields.Nested(line), load_default=list,
                            validate=validate.Length(max=500),
                            metadata={"description": "as in baskets/price; empty: nothing "
                                      "to show"})

    return DisplayBasketIn


class _DisplayBasket(Schema):
    till = fields.String(load_default="1", validate=TILL,
                         metadata={"description": "which till's display (default '1')"})
    cards = fields.List(fields.String(validate=validate.Length(min=1, max=64)),
                        load_default=list, validate=validate.Length(max=5))
    customer = fields.String(load_default=None, allow_none=True,
                             validate=validate.Length(min=1, max=64),
                             metadata={"description": "the sale's customer: the lines are "
                                       "priced at their loyalty profile's discount level"})
    sale = fields.UUID(load_default=None, allow_none=True,
                       metadata={"description": "show this recorded sale as paid (with "
                                 "its change) instead of lines"})

    @validates_schema
    def _one_of(self, data: dict[str, Any], **_: Any) -> None:
        if data.get("sale") and (data.get("lines") or data.get("cards")):
            raise ValidationError("give either a sale or lines and cards, not both", "sale")


class TillQuery(Schema):
    till = fields.String(load_default="1", validate=TILL)


class DisplayLineOut(Schema):
    name = fields.String()
    qty = fields.String()
    gross = fields.String()
    amount = fields.String()
    discount = fields.String()
    excluded = fields.Boolean()


class DisplayViewOut(Schema):
    version = fields.Integer()
    state = fields.String(metadata={"description": "idle, open or paid"})
    lines = fields.List(fields.Nested(DisplayLineOut))
    total = fields.String()
    discount = fields.String(metadata={"description": "the customer's savings"})
    paid = fields.String()
    change = fields.String()


class MediaOut(Schema):
    kind = fields.String(metadata={"description": "image, video or url"})
    src = fields.String()
    seconds = fields.Integer(allow_none=True, metadata={"description": "how long it shows "
                                                        "(a video plays to its end)"})


class ContentOut(Schema):
    source = fields.String(metadata={"description": "where the content comes from"})
    items = fields.List(fields.Nested(MediaOut))
    problems = fields.List(fields.String())


def _lines(priced_lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"name": line["name"], "qty": line["qty"], "gross": line["gross"],
             "amount": line["amount"],
             "discount": str(Decimal(line["gross"]) - Decimal(line["amount"])),
             "excluded": line.get("excluded_by") is not None} for line in priced_lines]


def open_body(priced: dict[str, Any]) -> dict[str, Any]:
    """What the display shows of a priced basket (``till.basket``'s answer)."""
    return {"state": "open", "lines": _lines(priced["lines"]), "total": priced["total"],
            "discount": priced["discount"]}


def _render(view: View) -> dict[str, Any]:
    return {"version": view.version, **view.body}


def create_blueprint(pos: PosContext) -> Blueprint:
    """The display endpoints; lines are read as baskets/price reads them."""
    store, store_code, hub, clock = pos.store, pos.store_code, pos.display_hub, pos.clock
    folder, normalise = pos.display_dir, pos.normalise
    body_schema = basket_schema(LineIn)
    cache = display_content.MediaCache.shared(display_content.cache_folder(store))
    blp = Blueprint("display", __name__, url_prefix="/pos/v1/display",
                    description="The customer display: the till's basket, live, and "
                                "promotional content")

    def sale_body(sale_uuid: str) -> dict[str, Any]:
        with store.read() as conn:
            row = conn.execute("SELECT result FROM sales WHERE uuid = ?",
                               (sale_uuid,)).fetchone()
        if row is None:
            raise ValidationError({"sale": [f"no sale {sale_uuid} at this store"]})
        sale = json.loads(row[0])
        paid = sum((Decimal(p["amount"]) for p in sale.get("payments") or []), Decimal(0))
        return {"state": "paid", "lines": _lines(sale["lines"]), "total": sale["total"],
                "discount": sale["discount"], "paid": str(paid or sale["total"]),
                "change": sale.get("change") or "0.00"}

    @blp.route("/basket")
    class Basket(MethodView):
        @blp.arguments(body_schema)
        @blp.response(200, DisplayViewOut)
        def put(self, data: dict[str, Any]) -> Any:
            """Show this basket (priced here) or this paid sale on the till's display."""
            if data["sale"] is not None:
                body = sale_body(str(data["sale"]))
            elif not data["lines"]:
                body = {"state": "idle", "lines": [], "total": "0.00", "discount": "0.00"}
            else:
                request = normalise({"lines": data["lines"], "cards": data["cards"],
                                     "customer": data["customer"]})
                body = open_body(till.basket(store, store_code, request, clock(),
                                             with_loyalty=False))
            return _render(hub.publish(data["till"], body))

        @blp.arguments(TillQuery, location="query")
        @blp.response(200, DisplayViewOut)
        def get(self, query: dict[str, Any]) -> Any:
            """What the till's display shows now."""
            return _render(hub.current(query["till"]))

    @blp.route("/events")
    class Events(MethodView):
        @blp.arguments(TillQuery, location="query")
        @blp.doc(responses={"200": {"description": "text/event-stream: one 'basket' event "
                                    "(the view as JSON) now and at every change"}})
        def get(self, query: dict[str, Any]) -> Any:
            """Server-sent events: the till's display view now and after every change."""
            name = query["till"]

            def stream() -> Iterator[str]:
                view = hub.current(name)
                yield _event(view)
                started = dt.datetime.now(dt.UTC)
                while (dt.datetime.now(dt.UTC) - started).total_seconds() < STREAM_SECONDS:
                    changed = hub.wait(name, view.version, KEEPALIVE_SECONDS)
                    if changed is None:
                        yield ": keep-alive\n\n"
                        continue
                    view = changed
                    yield _event(view)

            return Response(stream_with_context(stream()), mimetype="text/event-stream",
                            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})

    @blp.route("/content")
    class Content(MethodView):
        @blp.response(200, ContentOut)
        def get(self) -> Any:
            """The promotional content: head office's (cached here) when it sent some,
            else the agent's display folder (TESSERA_DISPLAY_DIR)."""
            sent = display_content.from_head_office(store, store_code, cache,
                                                    "/pos/v1/display/cache/")
            if sent is not None:
                return {"source": "head office", "items": [i.as_dict() for i in sent[0]],
                        "problems": sent[1]}
            items, problems = local_content(folder, "/pos/v1/display/media/")
            return {"source": f"local folder {folder}" if folder else "none",
                    "items": [item.as_dict() for item in items], "problems": problems}

    @blp.route("/media/<path:name>")
    class Media(MethodView):
        def get(self, name: str) -> Any:
            """One image or video of the display folder."""
            if folder is None or "/" in name or name.startswith("."):
                abort(404)
            return send_from_directory(folder, name, max_age=300)

    @blp.route("/cache/<name>")
    class Cached(MethodView):
        def get(self, name: str) -> Any:
            """One of head office's images or videos, from the agent's cache."""
            if "/" in name or name.startswith(".") or name.endswith(".part"):
                abort(404)
            return send_from_directory(cache.folder, name, max_age=300)

    return blp


def _event(view: View) -> str:
    return f"event: basket\nid: {view.version}\ndata: {json.dumps(_render(view))}\n\n"
