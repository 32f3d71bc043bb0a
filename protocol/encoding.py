"""JSON encoding for the wire: money travels as strings, numbers are read as Decimal."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from decimal import Decimal
from typing import Any


class WireError(ValueError):
    """A message that cannot be decoded or does not match its schema."""


def _default(value: object) -> object:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            raise TypeError("naive datetime on the wire")
        return value.astimezone(dt.UTC).isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    raise TypeError(f"cannot encode {type(value).__name__}")


def dumps(message: dict[str, Any]) -> bytes:
    """Encode a message as compact UTF-8 JSON with sorted keys (stable bytes)."""
    return json.dumps(message, default=_default, separators=(",", ":"), sort_keys=True).encode()


def loads(payload: bytes | str) -> dict[str, Any]:
    """Decode a message; floats become Decimal so money never passes through float."""
    try:
        value = json.loads(payload, parse_float=Decimal)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise WireError(f"not JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise WireError("a message must be a JSON object")
    return value


def utcnow_iso(now: dt.datetime) -> str:
    """ISO-8601 text of an aware datetime, in UTC."""
    return now.astimezone(dt.UTC).isoformat()
