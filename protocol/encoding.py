"""JSON encoding for the wire: money travels as strings, numbers are read as Decimal."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from decimal import Decimal
from typing import Any

from marshmallow import Schema, ValidationError


class WireError(ValueError):
    """A message that cannot be decoded or does not match its schema."""


def load_checked(schema: Schema, data: Any, what: str) -> dict[str, Any]:
    """``schema.load(data)``; a ValidationError becomes a WireError saying ``invalid {what}``
    with marshmallow's messages (the one wording of every reader of the protocol)."""
    try:
        loaded: dict[str, Any] = schema.load(data)
    except ValidationError as exc:
        raise WireError(f"invalid {what}: {exc.messages}") from exc
    return loaded


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


# Deeper than any message or request of Tessera (a sale is 4 levels deep); far below the
# depth where Python's recursion (the JSON reader, marshmallow) gives up.
MAX_DEPTH = 32


class JSONError(WireError):
    """Text that is not acceptable JSON; the message says what and where."""


def _depth_within(value: Any, limit: int) -> bool:
    """Whether no object or array of ``value`` lies deeper than ``limit`` (the top is 1)."""
    stack: list[tuple[Any, int]] = [(value, 1)] if isinstance(value, (dict, list)) else []
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return False
        # Only containers go on the stack: the leaves (some 14,000 in a snapshot part of
        # 1,000 products) cost one isinstance each, not a push and a pop (half the time).
        children: Any = item.values() if isinstance(item, dict) else item
        for child in children:
            if isinstance(child, (dict, list)):
                stack.append((child, depth + 1))
    return True


def decode_json(payload: bytes | str, max_depth: int = MAX_DEPTH) -> Any:
    """Decode JSON text: numbers with a fraction as Decimal (never float), nesting bounded.

    The one JSON reader of messages and of both HTTP APIs. Raises JSONError naming the
    problem and its position (line, column) or the nesting limit.
    """
    try:
        text = payload.decode("utf-8") if isinstance(payload, bytes) else payload
    except UnicodeDecodeError as exc:
        raise JSONError(f"not UTF-8 text (byte {exc.start})") from exc
    try:
        value = json.loads(text, parse_float=Decimal)
    except json.JSONDecodeError as exc:
        raise JSONError(f"invalid JSON at line {exc.lineno} column {exc.colno}: "
                        f"{exc.msg}") from exc
    except RecursionError as exc:
        raise JSONError(f"JSON nested deeper than {max_depth} levels") from exc
    if not _depth_within(value, max_depth):
        raise JSONError(f"JSON nested deeper than {max_depth} levels")
    return value


def loads(payload: bytes | str) -> dict[str, Any]:
    """Decode a message; floats become Decimal so money never passes through float."""
    try:
        value = decode_json(payload)
    except JSONError as exc:
        raise WireError(f"not JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise WireError("a message must be a JSON object")
    return value


def utcnow_iso(now: dt.datetime) -> str:
    """ISO-8601 text of an aware datetime, in UTC."""
    return now.astimezone(dt.UTC).isoformat()
