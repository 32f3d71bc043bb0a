"""Message schemas, written by hand (never derived from database models).

Every message is a JSON object with ``v`` (protocol version) and ``kind``. Readers ignore
unknown fields so that changes stay additive (N8).
"""

from __future__ import annotations

from typing import Any

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate, validates_schema

from protocol import OLDEST_SUPPORTED_VERSION, PROTOCOL_VERSION, sale_body
from protocol.encoding import WireError, load_checked
from protocol.requests import ReplySchema, RequestSchema

STREAM_RE = r"^[a-z][a-z0-9_-]*(@[gs]:[A-Za-z0-9_.-]+)?$"
STORE_RE = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
# Seqs, versions and counters fit central's 64-bit columns (SQLite's and PostgreSQL's).
MAX_SEQ = 2**63 - 1
MAX_COUNT = 2**31 - 1  # counts of entries (central keeps them in 32-bit columns)
# Names a side keeps as text (epochs, entry ids, versions): printable, as central's
# String(64) columns hold them (PostgreSQL text cannot hold NUL).
PRINTABLE = validate.Regexp(r"^[^\x00-\x1f\x7f]*$", error="must be printable text")
ID_LENGTH = validate.And(validate.Length(min=1, max=64), PRINTABLE)


class _Base(Schema):
    class Meta:
        unknown = EXCLUDE

    v = fields.Integer(required=True, validate=validate.Range(min=OLDEST_SUPPORTED_VERSION))
    kind = fields.String(required=True)
    sent_at = fields.String(load_default=None)
    msg_id = fields.String(load_default=None)


class ChangeSchema(Schema):
    """One change of the central log, as applied by a store.

    ``data`` is checked against its entity's schema (protocol.entities) when the store
    applies it: an entity this side does not know passes through, as the protocol says.
    """

    class Meta:
        unknown = EXCLUDE

    version = fields.Integer(required=True, validate=validate.Range(min=1))
    entity = fields.String(required=True, validate=validate.Length(min=1, max=64))
    key = fields.String(required=True, validate=validate.Length(min=1, max=200))
    op = fields.String(required=True, validate=validate.OneOf(["upsert", "delete"]))
    data = fields.Dict(load_default=None)


class ChangesSchema(_Base):
    """``changes``: consecutive versions of one stream, central to stores."""

    stream = fields.String(required=True, validate=validate.Regexp(STREAM_RE))
    log_epoch = fields.String(required=True)
    changes = fields.List(fields.Nested(ChangeSchema), required=True,
                          validate=validate.Length(min=1))

    @validates_schema
    def _consecutive(self, data: dict[str, Any], **_: Any) -> None:
        versions = [c["version"] for c in data["changes"]]
        if versions != list(range(versions[0], versions[0] + len(versions))):
            raise ValidationError("changes must carry consecutive versions", "changes")


class SnapshotEntrySchema(Schema):
    class Meta:
        unknown = EXCLUDE

    entity = fields.String(required=True, validate=validate.Length(min=1, max=64))
    key = fields.String(required=True, validate=validate.Length(min=1, max=200))
    data = fields.Dict(required=True)


class _SnapshotEntries(fields.List):  # type: ignore[type-arg]
    """``entries`` of a snapshot: what the nested schema loads, sooner for the plain entries
    central sends (a million customers are two million entries: marshmallow's nesting alone
    took three times what applying them takes); anything else goes to the nested schema,
    which words the error."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(fields.Nested(SnapshotEntrySchema), **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any,
                     **kwargs: Any) -> list[Any]:
        if type(value) is list:
            entries = []
            for entry in value:
                if type(entry) is not dict:
                    break
                entity, key, body = entry.get("entity"), entry.get("key"), entry.get("data")
                if (type(entity) is not str or not 1 <= len(entity) <= 64
                        or type(key) is not str or not 1 <= len(key) <= 200
                        or type(body) is not dict):
                    break
                entries.append({"entity": entity, "key": key, "data": body})
            else:
                return entries
        loaded: list[Any] = super()._deserialize(value, attr, data, **kwargs)
        return loaded


class SnapshotSchema(_Base):
    """``snapshot``: one part of a stream's whole state at ``version``, central to one store.

    The store keeps the parts of one ``snapshot`` id and, once it holds all ``parts``, replaces
    its copy of the stream with them in one transaction and stands at ``version``.
    """

    stream = fields.String(required=True, validate=validate.Regexp(STREAM_RE))
    log_epoch = fields.String(required=True)
    snapshot = fields.String(required=True, validate=validate.Length(min=1, max=64))
    version = fields.Integer(required=True, validate=validate.Range(min=0))
    part = fields.Integer(required=True, validate=validate.Range(min=1))
    parts = fields.Integer(required=True, validate=validate.Range(min=1))
    entries = _SnapshotEntries(required=True)
    # protocol.checksum of the stream at ``version``: the store checks what it swapped in.
    checksum = fields.String(load_default=None, validate=validate.Regexp(r"^[0-9a-f]{16}$"))

    @validates_schema
    def _part_in_range(self, data: dict[str, Any], **_: Any) -> None:
        if data["part"] > data["parts"]:
            raise ValidationError("part beyond parts", "part")


class CatchUpSchema(_Base):
    """``catch_up``: a store asks for every version after the ones it holds."""

    store = fields.String(required=True, validate=validate.Regexp(STORE_RE))
    log_epoch = fields.String(load_default=None,
                              validate=validate.And(validate.Length(max=64), PRINTABLE))
    streams = fields.Dict(keys=fields.String(validate=validate.Regexp(STREAM_RE)),
                          values=fields.Integer(validate=validate.Range(min=0, max=MAX_SEQ)),
                          required=True)
    # protocol.checksum per stream, at the versions above: central compares where it stands
    # at the same version, and repairs drift with a snapshot.
    checksums = fields.Dict(keys=fields.String(), values=fields.String(), load_default=dict)
    # Added in version 1 (optional; older agents omit them): the store's upstream epoch and
    # its outbox as it stands, so that central's backlog figure is corrected every catch-up
    # interval even while the store sends no batch (a wrong ``head`` lasts no longer).
    epoch = fields.String(load_default=None, validate=ID_LENGTH)
    outbox_head = fields.Integer(load_default=None, validate=validate.Range(min=0, max=MAX_SEQ))
    outbox_pending = fields.Integer(load_default=None,
                                    validate=validate.Range(min=0, max=MAX_COUNT))


PRINTER_STATE_RE = r"^[a-z_]{1,16}$"


class PrinterSchema(Schema):
    """The store's fiscal printer as its agent last saw it (``birth``, optional).

    ``state`` is ``ok``, ``warning``, ``error``, ``offline`` or ``unknown`` today; a later
    agent may say more, so central takes any short lowercase word and shows it as it is.
    """

    class Meta:
        unknown = EXCLUDE

    state = fields.String(required=True, validate=validate.Regexp(PRINTER_STATE_RE))
    message = fields.String(load_default=None, allow_none=True,
                            validate=validate.And(validate.Length(max=500), PRINTABLE))


class StateSchema(_Base):
    """``birth`` / ``death``: retained liveness of a store (birth also carries versions)."""

    store = fields.String(required=True, validate=validate.Regexp(STORE_RE))
    online = fields.Boolean(required=True)
    session = fields.Integer(required=True, validate=validate.Range(min=0, max=MAX_SEQ))
    agent_version = fields.String(load_default=None,
                                  validate=validate.And(validate.Length(max=64), PRINTABLE))
    epoch = fields.String(load_default=None, validate=ID_LENGTH)
    log_epoch = fields.String(load_default=None,
                              validate=validate.And(validate.Length(max=64), PRINTABLE))
    streams = fields.Dict(keys=fields.String(validate=validate.Regexp(STREAM_RE)),
                          values=fields.Integer(validate=validate.Range(min=0, max=MAX_SEQ)),
                          load_default=dict)
    checksums = fields.Dict(keys=fields.String(), values=fields.String(), load_default=dict)
    outbox_head = fields.Integer(load_default=None, validate=validate.Range(min=0, max=MAX_SEQ))
    outbox_pending = fields.Integer(load_default=None,
                                    validate=validate.Range(min=0, max=MAX_COUNT))
    # Since protocol 1 additively: absent from older agents and from stores with no printer.
    printer = fields.Nested(PrinterSchema, load_default=None, allow_none=True)


class EntrySchema(Schema):
    """One outbox entry of a store: a fact that central must record exactly once."""

    class Meta:
        unknown = EXCLUDE

    seq = fields.Integer(required=True, validate=validate.Range(min=1, max=MAX_SEQ))
    kind = fields.String(required=True, validate=validate.Length(min=1, max=32))
    id = fields.String(required=True, validate=ID_LENGTH)
    body = fields.Dict(required=True)


class BatchSchema(_Base):
    """``batch``: consecutive outbox entries of one store epoch, store to central."""

    store = fields.String(required=True, validate=validate.Regexp(STORE_RE))
    epoch = fields.String(required=True, validate=ID_LENGTH)
    entries = fields.List(fields.Nested(EntrySchema), required=True,
                          validate=validate.Length(min=1))
    # The store's newest outbox seq when it sent the batch (for central's backlog figure).
    head = fields.Integer(load_default=None, validate=validate.Range(min=0, max=MAX_SEQ))
    # The id of the store's entry just before the first one: central applies the batch only
    # if that is the entry it holds there (a restored store forks its history).
    prev = fields.String(load_default=None, allow_none=True, validate=ID_LENGTH)

    @validates_schema
    def _consecutive(self, data: dict[str, Any], **_: Any) -> None:
        seqs = [e["seq"] for e in data["entries"]]
        if seqs != list(range(seqs[0], seqs[0] + len(seqs))):
            raise ValidationError("entries must carry consecutive seqs", "entries")


class AckSchema(_Base):
    """``ack``: retained, the highest contiguous seq central committed for an epoch."""

    store = fields.String(required=True, validate=validate.Regexp(STORE_RE))
    epoch = fields.String(required=True)
    seq = fields.Integer(required=True, validate=validate.Range(min=0))
    # The id of the entry at ``seq`` as central holds it: a store whose own entry at
    # ``seq`` has another id (restored from a backup) starts a new epoch.
    id = fields.String(load_default=None, allow_none=True)


class RebirthSchema(_Base):
    """``rebirth``: central asks a store to publish its birth again (on its ``cmd`` topic).

    Sent when a store that central believes offline shows it is alive (a catch-up request):
    its last birth was lost on the way, and the retained state says otherwise.
    """

    store = fields.String(required=True, validate=validate.Regexp(STORE_RE))


class CentralStateSchema(_Base):
    """``central``: retained liveness of central's sync workers."""

    online = fields.Boolean(required=True)


class SaleLineSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    sku = fields.String(required=True)
    barcode = fields.String(load_default=None)
    name = fields.String(required=True)
    qty = fields.Decimal(required=True, as_string=True)
    unit_price = fields.Decimal(required=True, as_string=True)
    amount = fields.Decimal(required=True, as_string=True)
    vat_rate = fields.Decimal(required=True, as_string=True)
    gross = fields.Decimal(as_string=True, load_default=None)
    excluded_by = fields.String(load_default=None, allow_none=True)
    adjustments = fields.List(fields.Dict(), load_default=list)


class VatSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    rate = fields.Decimal(required=True, as_string=True)
    gross = fields.Decimal(required=True, as_string=True)
    net = fields.Decimal(required=True, as_string=True)
    vat = fields.Decimal(required=True, as_string=True)


class PaymentSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    method = fields.String(required=True)
    amount = fields.Decimal(required=True, as_string=True)


class SaleGiftSchema(Schema):
    """A loyalty gift taken in a sale: the sale line that is the gift and the points the
    store spent on it (the store checked the customer's balance it knew, SPEC L3)."""

    class Meta:
        unknown = EXCLUDE

    line = fields.Integer(required=True, validate=validate.Range(min=0, max=9_999))
    points = fields.Decimal(required=True, as_string=True,
                            validate=validate.Range(min=0, min_inclusive=False))


class SaleLoyaltySchema(Schema):
    """The loyalty side of a sale (additive, protocol v1): the customer's profile and the
    version of it the store priced and accrued with, the provisional points the store
    printed on the receipt, and the gifts taken. Central recomputes the points at that
    version and is authoritative; a difference is drift (SPEC L5)."""

    class Meta:
        unknown = EXCLUDE

    profile = fields.String(required=True, validate=validate.Length(min=1, max=32))
    profile_version = fields.Integer(required=True, validate=validate.Range(min=1))
    points = fields.Decimal(as_string=True, load_default=None, allow_none=True)
    gifts = fields.List(fields.Nested(SaleGiftSchema), load_default=list,
                        validate=validate.Length(max=50))


class SaleSchema(Schema):
    """Body of a ``sale`` outbox entry."""

    class Meta:
        unknown = EXCLUDE

    uuid = fields.UUID(required=True)
    store = fields.String(required=True)
    number = fields.Integer(required=True)
    created_at = fields.AwareDateTime(required=True)
    till = fields.String(load_default=None)
    cashier = fields.String(load_default=None)
    lines = fields.List(fields.Nested(SaleLineSchema), required=True,
                        validate=validate.Length(min=1))
    total = fields.Decimal(required=True, as_string=True)
    vat = fields.List(fields.Nested(VatSchema), required=True)
    payments = fields.List(fields.Nested(PaymentSchema), load_default=list)
    discount = fields.Decimal(as_string=True, load_default=None)
    cards = fields.List(fields.String(), load_default=list)
    # The customer the sale was made to (additive; a customer id, see ``customer`` entries).
    customer = fields.UUID(load_default=None, allow_none=True)
    # The loyalty side of the sale (additive): see ``SaleLoyaltySchema``.
    loyalty = fields.Nested(SaleLoyaltySchema, load_default=None, allow_none=True)
    streams = fields.Dict(keys=fields.String(), values=fields.Integer(), load_default=dict)
    versions = fields.Dict(keys=fields.String(), values=fields.Integer(), load_default=dict)


class FiscalEntrySchema(Schema):
    """Body of a ``fiscal`` outbox entry: the fiscal receipt a sale got, after the sale."""

    class Meta:
        unknown = EXCLUDE

    sale = fields.UUID(required=True)
    document_number = fields.Integer(required=True, validate=validate.Range(min=0,
                                                                            max=2**62))
    receipt_number = fields.Integer(load_default=None, allow_none=True,
                                    validate=validate.Range(min=0, max=2**62))
    device = fields.String(load_default=None, allow_none=True,
                           validate=validate.And(validate.Length(max=64), PRINTABLE))
    fiscalised_at = fields.AwareDateTime(required=True)


class _CardLinkSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    number = fields.String(required=True, validate=validate.Length(min=1, max=64))
    kind = fields.String(required=True, validate=validate.OneOf(("loyalty", "partner", "vip")))


class CustomerEditSchema(Schema):
    """Body of a ``customer`` outbox entry: one edit of a customer made at a store
    (``rules.customers.history.Edit``); the first edit of a new customer creates it.

    ``changes`` maps a field (``first_name``, ``extra.shoe_size``...) to its new value as
    text (dates YYYY-MM-DD, numbers decimal strings), a consent as ``{granted, at, store}``,
    or null to clear it. The store validated it; central validates it again and parks what
    it refuses, naming the field.
    """

    class Meta:
        unknown = EXCLUDE

    customer = fields.UUID(required=True)
    edit = fields.UUID(required=True)
    at = fields.AwareDateTime(required=True)
    store = fields.String(required=True, validate=validate.Length(min=1, max=64))
    changes = fields.Dict(keys=fields.String(validate=validate.Length(min=1, max=64)),
                          values=fields.Raw(allow_none=True), load_default=dict)
    add_cards = fields.List(fields.Nested(_CardLinkSchema), load_default=list)
    retire_cards = fields.List(fields.String(validate=validate.Length(min=1, max=64)),
                               load_default=list)


_SCHEMAS: dict[str, Schema] = {
    "changes": ChangesSchema(),
    "snapshot": SnapshotSchema(),
    "catch_up": CatchUpSchema(),
    "birth": StateSchema(),
    "death": StateSchema(),
    "batch": BatchSchema(),
    "ack": AckSchema(),
    "central": CentralStateSchema(),
    "rebirth": RebirthSchema(),
    "request": RequestSchema(),
    "reply": ReplySchema(),
}

SALE = SaleSchema()


def envelope(kind: str, **fields_: Any) -> dict[str, Any]:
    """A new message of ``kind`` at the current protocol version."""
    return {"v": PROTOCOL_VERSION, "kind": kind, **fields_}


def parse(message: dict[str, Any], *expected: str) -> dict[str, Any]:
    """Validate a decoded message against the schema of its kind.

    Raises WireError with a readable reason; the caller parks or logs the message.
    """
    kind = message.get("kind")
    if not isinstance(kind, str) or kind not in _SCHEMAS:
        raise WireError(f"unknown message kind {kind!r}")
    if expected and kind not in expected:
        raise WireError(f"unexpected message kind {kind!r} (wanted {', '.join(expected)})")
    version = message.get("v")
    if isinstance(version, int) and version > PROTOCOL_VERSION + 1:
        raise WireError(f"protocol version {version} is too new (this side speaks "
                        f"{PROTOCOL_VERSION})")
    return load_checked(_SCHEMAS[kind], message, f"{kind} message")


FISCAL = FiscalEntrySchema()


def parse_fiscal(body: dict[str, Any]) -> dict[str, Any]:
    """Validate the body of a fiscal entry."""
    return load_checked(FISCAL, body, "fiscal entry")


CUSTOMER_EDIT = CustomerEditSchema()


def parse_customer_edit(body: dict[str, Any]) -> dict[str, Any]:
    """Validate the body of a customer entry."""
    return load_checked(CUSTOMER_EDIT, body, "customer entry")


def parse_sale(body: dict[str, Any]) -> dict[str, Any]:
    """Validate the body of a sale entry."""
    fast = sale_body.read(body)  # the same result for well-formed sales, much sooner
    if fast is not None:
        return fast
    return load_checked(SALE, body, "sale")
