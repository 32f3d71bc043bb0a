"""The till's API on the store LAN (/pos/v1): answers from the local copy, online or not.

One blueprint per feature (FEATURES), each built from the same PosContext; the
sale's orchestration lives in store_agent.pos.checkout, not in the views. A new
feature is a module with a create_blueprint(pos) and a line in FEATURES.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

from flask import Flask
from flask.json.provider import DefaultJSONProvider
from flask_smorest import Api

from protocol.encoding import decode_json
from store_agent import till_web
from store_agent.fiscal.fiscaliser import Fiscaliser
from store_agent.pos.api import (
    baskets,
    cashiers,
    customers,
    display,
    errors,
    footfall,
    instructions,
    loyalty,
    products,
    receipts,
    sales,
    status,
    surveys,
)
from store_agent.pos.api.blueprint import Blueprint
from store_agent.pos.api.context import PosContext
from store_agent.pos.api.schemas import LINE_ANY_OF, decimal_as_string
from store_agent.pos.checkout import Checkout
from store_agent.pos.customers import Customers
from store_agent.pos.display import DisplayHub
from store_agent.settings import ReceiptPrinterSettings
from store_agent.sqlite_store import LocalStore
from store_agent.sync.replica import Replica

# The largest request of the till (a sale of 500 lines is about 40 KB); above it: 413.
MAX_BODY = 1024 * 1024
# Page cache of each request thread's SQLite connection, in KiB.
REQUEST_CACHE_KIB = 256


class _JSON(DefaultJSONProvider):
    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        return decode_json(s)

    @staticmethod
    def default(o: Any) -> Any:
        if isinstance(o, Decimal):
            return str(o)
        return DefaultJSONProvider.default(o)

# Every /pos/v1 feature, in the order of the OpenAPI document.
FEATURES: list[Callable[[PosContext], Blueprint]] = [
    products.create_blueprint,
    baskets.create_blueprint,
    sales.create_blueprint,
    receipts.create_blueprint,
    status.create_blueprint,
    customers.create_blueprint,
    display.create_blueprint,
    cashiers.create_blueprint,
    instructions.create_blueprint,
    footfall.create_blueprint,
    surveys.create_blueprint,
    loyalty.create_blueprint,
]


def create_app(store: LocalStore, replica: Replica, store_code: str,
               status: Callable[[], dict[str, Any]],
               on_sale: Callable[[], None] = lambda: None,
               clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
               fiscal: Fiscaliser | None = None,
               receipt_printer: ReceiptPrinterSettings | None = None,
               display_dir: Path | None = None,
               central_clock: Callable[[], Any] | None = None,
               customers: Customers | None = None) -> Flask:
    """The POS app; its dependencies come from the agent's composition root."""
    app = Flask("tessera-pos")
    app.json = _JSON(app)
    app.config.update(API_TITLE="Tessera store agent (POS API)", API_VERSION="v1",
                      OPENAPI_VERSION="3.0.3", OPENAPI_URL_PREFIX="/pos",
                      OPENAPI_JSON_PATH="openapi.json", MAX_CONTENT_LENGTH=MAX_BODY)
    api = Api(app)
    api.ma_plugin.converter.add_attribute_function(decimal_as_string)
    checkout = Checkout(store, store_code, clock, fiscal=fiscal,
                        receipt_printer=receipt_printer, on_sale=on_sale)
    pos = PosContext(store=store, replica=replica, store_code=store_code, clock=clock,
                     status=status, checkout=checkout,
                     customers=customers or Customers(store, store_code, clock=clock),
                     display_hub=DisplayHub(),
                     display_dir=display_dir, central_clock=central_clock)
    for feature in FEATURES:
        api.register_blueprint(feature(pos))
    till_web.register(app)
    api.spec.components.schemas["LineIn"]["anyOf"] = LINE_ANY_OF

    @app.get("/healthz")
    def healthz() -> Any:
        state = status()
        return {"status": "ok", "broker_connected": state["broker_connected"],
                "outbox_pending": state["outbox_pending"]}

    @app.before_request
    def small_cache() -> None:
        store.limit_cache(REQUEST_CACHE_KIB)  # one per request thread (16): see limit_cache

    errors.register(app)
    return app
