"""Requests a store makes to central over MQTT, registered once, and their envelopes.

A store publishes a ``request`` on ``stores/{store}/rpc`` and waits, until its own deadline,
for the ``reply`` with the same ``id`` on ``stores/{store}/rpc/res``. Central answers a
repeated id (the store asks again after a lost reply) with the reply it gave the first
time, without running the handler again; so a request that changes something (a hold on a
gift card) is safe to repeat under the same id, and a new question takes a new id.

``ttl_ms`` is how long the asker waits: central does not start on a request that waited
longer than that in its queue (nobody listens for the answer any more). The store decides
alone that central is unreachable, by its own clock, whatever central does.

Each kind names the schema of its ``body`` both ways. ``catch_up`` travels on the same topic
but is older and answered downstream (``changes``), not by a reply.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate, validates_schema

from protocol import OLDEST_SUPPORTED_VERSION
from protocol.encoding import WireError, load_checked

STORE_RE = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
MAX_TTL_MS = 120_000


class _Body(Schema):
    class Meta:
        unknown = EXCLUDE


class ClockRequest(_Body):
    """``clock``: no arguments."""


class ClockReply(_Body):
    """``clock``: central's time when it answered, its software and protocol versions."""

    time = fields.AwareDateTime(required=True)
    version = fields.String(required=True, validate=validate.Length(max=64))
    protocol = fields.Integer(required=True)


class FindCustomerRequest(_Body):
    """``find_customer``: exactly one of a card number, a mobile (E.164, or as typed: central
    reads it with the store's country) or an e-mail."""

    card = fields.String(load_default=None, validate=validate.Length(min=1, max=64))
    mobile = fields.String(load_default=None, validate=validate.Length(min=1, max=40))
    email = fields.String(load_default=None, validate=validate.Length(min=1, max=254))

    @validates_schema
    def _exactly_one(self, data: dict[str, Any], **_: Any) -> None:
        given = [k for k in ("card", "mobile", "email") if data.get(k) is not None]
        if len(given) != 1:
            raise ValidationError("give exactly one of card, mobile, email")


class FindCustomerReply(_Body):
    """``find_customer``: ``found`` false, or the customer as a ``customer`` entity's data
    (an old id already resolved to its survivor) and its cards as ``customer_card`` data."""

    found = fields.Boolean(required=True)
    customer = fields.Dict(load_default=None, allow_none=True)
    cards = fields.List(fields.Dict(), load_default=list)


@dataclass(frozen=True)
class RequestKind:
    name: str
    request: Schema
    reply: Schema
    doc: str


KINDS: dict[str, RequestKind] = {kind.name: kind for kind in (
    RequestKind("clock", ClockRequest(), ClockReply(),
                "central's clock and version (tessera agent doctor)"),
    RequestKind("find_customer", FindCustomerRequest(), FindCustomerReply(),
                "a customer the store's copy does not hold yet, by card, mobile or e-mail"),
)}

ERROR_CODES = ("bad_request", "unknown_request", "unknown_store", "id_reused", "refused",
               "failed")
"""Codes of a refusal: the request is wrong, unknown here, from a store central does not
know, its id was used for another kind, the handler refused it, or the handler failed."""


class UnknownRequestKind(WireError):
    """A request kind this protocol version does not define."""


def kind(name: str) -> RequestKind:
    try:
        return KINDS[name]
    except KeyError:
        raise UnknownRequestKind(f"unknown request kind {name!r}") from None


def read_request(name: str, body: dict[str, Any]) -> dict[str, Any]:
    """The validated body of a request of kind ``name``."""
    return load_checked(kind(name).request, body, f"{name} request")


def read_reply(name: str, body: dict[str, Any]) -> dict[str, Any]:
    """The validated body of a reply to a request of kind ``name``."""
    return load_checked(kind(name).reply, body, f"{name} reply")


def dump_reply(name: str, body: dict[str, Any]) -> dict[str, Any]:
    """The wire form of a reply body (times as ISO strings, decimals as strings)."""
    dumped: dict[str, Any] = kind(name).reply.dump(body)
    return dumped


class _Envelope(Schema):
    class Meta:
        unknown = EXCLUDE

    v = fields.Integer(required=True, validate=validate.Range(min=OLDEST_SUPPORTED_VERSION))
    kind = fields.String(required=True)
    sent_at = fields.String(load_default=None)
    msg_id = fields.String(load_default=None)
    store = fields.String(required=True, validate=validate.Regexp(STORE_RE))
    id = fields.String(required=True, validate=validate.Length(min=1, max=64))
    request = fields.String(required=True, validate=validate.Length(min=1, max=32))


class RequestSchema(_Envelope):
    """``request``: a store asks central; answered by a ``reply`` with the same id."""

    ttl_ms = fields.Integer(required=True, validate=validate.Range(min=1, max=MAX_TTL_MS))
    body = fields.Dict(load_default=dict)


class ErrorSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    code = fields.String(required=True)
    message = fields.String(required=True)


class ReplySchema(_Envelope):
    """``reply``: central's answer (``ok`` with ``body``) or refusal (``error``)."""

    ok = fields.Boolean(required=True)
    body = fields.Dict(load_default=None, allow_none=True)
    error = fields.Nested(ErrorSchema, load_default=None, allow_none=True)
