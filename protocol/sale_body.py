"""A fast reader of well-formed sale bodies, for central's ingest of whole batches.

``messages.SaleSchema`` (marshmallow) is the definition and gives the error messages, but
it costs about half of central's ingest time. ``read`` walks the common shape by hand with
the same conversions the schema uses (``uuid.UUID``, ``datetime.fromisoformat``,
``Decimal(str(value))``) and returns exactly what the schema would return; on anything
unusual (a wrong type, a missing field, a value the schema might convert differently) it
returns None and the caller asks the schema, which accepts or explains. So it never accepts
what the schema refuses (tests/unit/test_sale_body.py compares the two).
"""

from __future__ import annotations

import datetime as dt
import decimal
import uuid
from decimal import Decimal
from typing import Any


class _Unusual(Exception):
    """Leave this body to the schema."""


def _text(value: Any) -> str:
    if type(value) is not str:
        raise _Unusual
    return value


def _optional_text(data: dict[str, Any], key: str) -> str | None:
    value = data.get(key)
    return None if value is None else _text(value)


def _integer(value: Any) -> int:
    if type(value) is not int:  # the schema also takes "5" and 5.0; not here
        raise _Unusual
    return value


def _decimal(value: Any) -> Decimal:
    if type(value) is not str and type(value) is not int:
        raise _Unusual
    try:
        number = Decimal(str(value))
    except decimal.InvalidOperation:
        raise _Unusual from None
    if not number.is_finite():
        raise _Unusual
    return number


def _optional_decimal(data: dict[str, Any], key: str) -> Decimal | None:
    value = data.get(key)
    return None if value is None else _decimal(value)


def _required(data: dict[str, Any], key: str) -> Any:
    value = data.get(key)
    if value is None:
        raise _Unusual
    return value


def _list(value: Any) -> list[Any]:
    if type(value) is not list:
        raise _Unusual
    return value


def _dict(value: Any) -> dict[str, Any]:
    if type(value) is not dict:
        raise _Unusual
    return value


def _int_map(value: Any) -> dict[str, int]:
    return {_text(k): _integer(v) for k, v in _dict(value).items()}


def _line(value: Any) -> dict[str, Any]:
    data = _dict(value)
    return {
        "sku": _text(_required(data, "sku")),
        "barcode": _optional_text(data, "barcode"),
        "name": _text(_required(data, "name")),
        "qty": _decimal(_required(data, "qty")),
        "unit_price": _decimal(_required(data, "unit_price")),
        "amount": _decimal(_required(data, "amount")),
        "vat_rate": _decimal(_required(data, "vat_rate")),
        "gross": _optional_decimal(data, "gross"),
        "excluded_by": _optional_text(data, "excluded_by"),
        "adjustments": [dict(_dict(a)) for a in _list(data.get("adjustments", []))],
    }


def _vat(value: Any) -> dict[str, Any]:
    data = _dict(value)
    return {key: _decimal(_required(data, key)) for key in ("rate", "gross", "net", "vat")}


def _payment(value: Any) -> dict[str, Any]:
    data = _dict(value)
    return {"method": _text(_required(data, "method")),
            "amount": _decimal(_required(data, "amount"))}


def _sale(data: dict[str, Any]) -> dict[str, Any]:
    try:
        sale_uuid = uuid.UUID(_text(_required(data, "uuid")))
        created_at = dt.datetime.fromisoformat(_text(_required(data, "created_at")))
    except ValueError:
        raise _Unusual from None
    if created_at.tzinfo is None or created_at.utcoffset() is None:
        raise _Unusual
    customer = data.get("customer")
    if customer is not None:
        try:
            customer = uuid.UUID(_text(customer))
        except ValueError:
            raise _Unusual from None
    lines = _list(_required(data, "lines"))
    if not lines:
        raise _Unusual
    if data.get("loyalty") is not None:
        raise _Unusual  # rarer and nested: the schema reads it
    return {
        "uuid": sale_uuid,
        "store": _text(_required(data, "store")),
        "number": _integer(_required(data, "number")),
        "created_at": created_at,
        "till": _optional_text(data, "till"),
        "cashier": _optional_text(data, "cashier"),
        "lines": [_line(line) for line in lines],
        "total": _decimal(_required(data, "total")),
        "vat": [_vat(v) for v in _list(_required(data, "vat"))],
        "payments": [_payment(p) for p in _list(data.get("payments", []))],
        "discount": _optional_decimal(data, "discount"),
        "cards": [_text(c) for c in _list(data.get("cards", []))],
        "customer": customer,
        "loyalty": None,
        "streams": _int_map(data.get("streams", {})),
        "versions": _int_map(data.get("versions", {})),
    }


def read(body: Any) -> dict[str, Any] | None:
    """The sale as ``SaleSchema().load(body)`` gives it, or None: ask the schema."""
    if type(body) is not dict:
        return None
    try:
        return _sale(body)
    except _Unusual:
        return None
