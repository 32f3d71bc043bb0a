"""The POS API's one error shape (``code``, ``status``, ``message``, ``errors``) and the
mapping of the domain's exceptions to it."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from flask import Flask, Response, jsonify
from marshmallow import ValidationError
from werkzeug.exceptions import HTTPException

from rules.context import UnknownCard
from rules.money import MoneyError
from rules.pricing import InvalidQuantity, PricingError, UnknownProduct
from store_agent.fiscal.fiscaliser import FiscalNotReady, VatNotMapped
from store_agent.pos import receipts, till
from store_agent.pos.cashiers import UnknownCashier
from store_agent.pos.checkout import NoReceiptPrinter, UnknownSale
from store_agent.pos.display import TooManyTills
from store_agent.pos.loyalty import GiftNotAllowed


def error(status_code: int, message: str, errors: Any = None) -> Response:
    """A response in the API's error shape."""
    body: dict[str, Any] = {"code": status_code, "status": HTTPStatus(status_code).phrase,
                            "message": message}
    if errors:
        body["errors"] = errors
    response = jsonify(body)
    response.status_code = status_code
    return response


# exception -> (status, the field its message belongs to, or None)
DOMAIN_ERRORS: list[tuple[type[Exception], int, str | None]] = [
    (UnknownSale, 404, None),
    (till.SaleConflict, 409, None),
    (NoReceiptPrinter, 409, None),
    (UnknownCard, 422, "cards"),
    (InvalidQuantity, 422, "lines"),
    (till.PaymentShort, 422, "payments"),
    (receipts.InvalidEmail, 422, "email"),
    (UnknownCashier, 422, "cashier"),
    (till.UnknownSaleCustomer, 422, "customer"),
    (TooManyTills, 422, "till"),
    (FiscalNotReady, 503, None),
    (VatNotMapped, 422, "lines"),
    (PricingError, 422, None),
    (MoneyError, 422, None),
]


def register(app: Flask) -> None:
    """Map every error of ``app`` to the API's error shape."""

    @app.errorhandler(UnknownProduct)
    def _unknown(exc: UnknownProduct) -> Any:
        return error(422, str(exc), {"lines": [f"unknown product {exc.code!r}"]})

    def handler(status: int, field: str | None) -> Any:
        def handle(exc: Exception) -> Any:
            return error(status, str(exc), {field: [str(exc)]} if field else None)
        return handle

    for exception, status, field in DOMAIN_ERRORS:
        app.register_error_handler(exception, handler(status, field))

    @app.errorhandler(GiftNotAllowed)
    def _gift(exc: GiftNotAllowed) -> Any:
        # "lines.1.gift" nests as a schema error would: {"lines": {"1": {"gift": [...]}}}
        errors: Any = [str(exc)]
        for part in reversed(exc.field.split(".")):
            errors = {part: errors}
        return error(422, str(exc), errors)

    @app.errorhandler(ValidationError)
    def _validation(exc: ValidationError) -> Any:
        return error(422, "invalid request", exc.messages)

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> Any:
        data = getattr(exc, "data", {}) or {}
        messages = data.get("messages")
        if isinstance(messages, dict) and set(messages) <= {"json", "query", "path"}:
            messages = {k: v for part in messages.values() if isinstance(part, dict)
                        for k, v in part.items()}
        return error(exc.code or 500, data.get("message") or exc.description or "error",
                     messages)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Any:
        app.logger.exception("unhandled error")
        return error(500, "internal error; the agent log has the details")
