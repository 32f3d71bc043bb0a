"""The registry of synced entities: what central sends down, in which bucket, under which key.

Each entity that travels in a ``changes`` or ``snapshot`` message is registered here once:
its name on the wire (``entity``), its bucket (a name from :mod:`protocol.streams`), the
fields its key is made of, and a hand-written schema of its ``data``. Central builds the
payloads (``*_wire()`` functions in its services) and a test checks them against these
schemas; the agent loads every change through them before storing it.

Readers ignore unknown fields (the protocol is additive) and unknown entities (a newer
central may send what this agent does not know yet: the stream still advances).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from marshmallow import EXCLUDE, Schema, ValidationError, fields, missing, validate

from protocol.encoding import load_checked
from protocol.streams import (
    CATALOG,
    CUSTOMERS,
    LOYALTY,
    PARTNERS,
    POLICIES,
    PRICES,
    STORE_CONFIG,
)

UUID_RE = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
"""A customer id on the wire: a lower-case hyphenated UUID (kept as text, as stored)."""

KEY_SEPARATOR = "|"
NONE_PART = "-"
"""Stands for a missing key part (a price entry without an effective time)."""


class _Data(Schema):
    class Meta:
        unknown = EXCLUDE


def _code(**kwargs: Any) -> fields.String:
    return fields.String(validate=validate.Length(min=1, max=200), **kwargs)


def _optional(field: type[fields.Field[Any]], **kwargs: Any) -> fields.Field[Any]:
    return field(load_default=None, allow_none=True, **kwargs)


class CategoryData(_Data):
    code = _code(required=True)
    name = fields.String(required=True)
    parent = _optional(fields.String)
    active = fields.Boolean(required=True)


class BrandData(_Data):
    code = _code(required=True)
    name = fields.String(required=True)
    active = fields.Boolean(required=True)


class FamilyData(BrandData):
    pass


class ProductData(_Data):
    sku = _code(required=True)
    name = fields.String(required=True)
    category = _optional(fields.String)
    brand = _optional(fields.String)
    family = _optional(fields.String)
    vat_rate = fields.Decimal(required=True)
    sale_price = fields.Decimal(required=True)
    # piece, kg, l or m (rules.pricing.UNITS); absent (older central) or unknown: piece.
    unit = _optional(fields.String, validate=validate.Length(max=16))
    # The points one unit earns where a profile takes them from the products (SPEC L2);
    # absent (older central) or null: none.
    points_generated = _optional(fields.Decimal)
    active = fields.Boolean(required=True)
    barcodes = fields.List(fields.String(validate=validate.Length(min=1, max=64)),
                           load_default=list)


class StoreData(_Data):
    """The store's own record (on its own ``store-config`` stream)."""

    code = _code(required=True)
    name = fields.String(required=True)
    group = _optional(fields.String)
    active = fields.Boolean(required=True)
    # IANA zone of the store (additive: absent from older centrals, then UTC).
    time_zone = _optional(fields.String, validate=validate.Length(min=1, max=64))


class PriceData(_Data):
    sku = _code(required=True)
    price = fields.Decimal(required=True)
    effective_from = _optional(fields.String)


class _PeriodData(_Data):
    start = _optional(fields.String)
    end = _optional(fields.String)


class _TargetData(_Data):
    kind = fields.String(required=True)
    codes = fields.List(fields.String(), load_default=list)


class PolicyData(_Data):
    """A sales rule, promotion or exclusion; the kind-specific fields are optional here
    and checked by ``rules.policies`` when the till builds its policies."""

    code = _code(required=True)
    kind = fields.String(required=True)
    name = fields.String(load_default=None)
    version = fields.Integer(required=True)
    active = fields.Boolean(load_default=True)
    stores = fields.List(fields.String(), load_default=list)
    groups = fields.List(fields.String(), load_default=list)
    period = _optional(fields.Nested, nested=_PeriodData)
    target = _optional(fields.Nested, nested=_TargetData)
    percent = _optional(fields.Decimal)
    promotion = _optional(fields.String)
    buy = _optional(fields.Integer)
    get = _optional(fields.Integer)
    price = _optional(fields.Decimal)


class PartnerProgrammeData(_Data):
    code = _code(required=True)
    name = fields.String(required=True)
    percent = fields.Decimal(required=True)
    version = fields.Integer(required=True)
    active = fields.Boolean(required=True)
    stores = fields.List(fields.String(), load_default=list)
    groups = fields.List(fields.String(), load_default=list)
    valid_from = _optional(fields.String)
    valid_until = _optional(fields.String)


class PartnerCardData(_Data):
    programme = _code(required=True)
    first = fields.String(required=True, validate=validate.Length(min=1, max=64))
    last = fields.String(required=True, validate=validate.Length(min=1, max=64))
    holder = _optional(fields.String)
    active = fields.Boolean(load_default=True)


class VipCardData(_Data):
    code = _code(required=True)
    customer = _optional(fields.String)
    percent = fields.Decimal(required=True)
    valid_until = _optional(fields.String)
    active = fields.Boolean(required=True)
    version = fields.Integer(required=True)


class _ReceiptEmailData(_Data):
    policy = _optional(fields.String)
    sender = _optional(fields.String)
    subject = _optional(fields.String)
    body = _optional(fields.String)
    document_types = _optional(fields.List, cls_or_instance=fields.String())


class ReceiptProfileData(_Data):
    scope = _code(required=True)
    version = fields.Integer(load_default=None)
    header = _optional(fields.List, cls_or_instance=fields.String())
    footer = _optional(fields.List, cls_or_instance=fields.String())
    logo_png = _optional(fields.String)
    email = _optional(fields.Nested, nested=_ReceiptEmailData)
    updated_at = _optional(fields.String)


class CashierData(_Data):
    """A cashier of the store (on the store's own ``store-config`` stream): the till signs
    them in with ``code`` and a PIN checked against ``pin_hash`` (argon2), offline."""

    code = fields.String(required=True, validate=validate.Length(min=1, max=32))
    name = fields.String(required=True, validate=validate.Length(min=1, max=100))
    pin_hash = fields.String(required=True, validate=validate.Length(min=1, max=255))
    active = fields.Boolean(required=True)


def _uuid(**kwargs: Any) -> fields.String:
    return fields.String(validate=validate.Regexp(UUID_RE), **kwargs)


CUSTOMER_TEXT_FIELDS = ("first_name", "last_name", "email", "mobile", "address", "postcode",
                        "city", "country", "language", "birth_date", "gender", "home_store",
                        "provenance", "grouping", "observation")
"""The record's plain fields (rules.customers.record.STANDARD_FIELDS but the consents), as
text on the wire: e-mail normalised, mobile E.164, birth_date YYYY-MM-DD, country ISO."""


class CustomerData(_Data):
    """One customer of the chain, as central's fold of its edits leaves it.

    ``extra`` holds the answers to head office's extra questions (code -> text; numbers as
    decimal strings, dates YYYY-MM-DD). ``stamps`` gives, per field that has a value, the
    stamp of the winning edit as ``{at}|{store}|{edit id}`` so a store can tell whether a
    local edit it has not sent yet is later. An erased customer has every personal field
    null, ``erased`` true, and stays so whatever a store sends later.
    """

    id = _uuid(required=True)
    first_name = _optional(fields.String)
    last_name = _optional(fields.String)
    email = _optional(fields.String)
    mobile = _optional(fields.String)
    address = _optional(fields.String)
    postcode = _optional(fields.String)
    city = _optional(fields.String)
    country = _optional(fields.String)
    language = _optional(fields.String)
    birth_date = _optional(fields.String)
    gender = _optional(fields.String)
    home_store = _optional(fields.String)
    provenance = _optional(fields.String)
    grouping = _optional(fields.String)
    observation = _optional(fields.String)
    # A consent is flat (plain values keep the fast path): granted or not (null: never
    # asked), when (ISO UTC) and at which store it was given or withdrawn.
    consent_email = _optional(fields.Boolean)
    consent_email_at = _optional(fields.String)
    consent_email_store = _optional(fields.String)
    consent_sms = _optional(fields.Boolean)
    consent_sms_at = _optional(fields.String)
    consent_sms_store = _optional(fields.String)
    extra = fields.Dict(keys=fields.String(), values=fields.String(allow_none=True),
                        load_default=dict)
    search_key = fields.String(load_default="")
    profile = _optional(fields.String)
    total_spend = fields.Decimal(load_default=Decimal("0"))
    visits = fields.Integer(load_default=0)
    average_basket = _optional(fields.Decimal)
    first_purchase = _optional(fields.String)
    last_purchase = _optional(fields.String)
    erased = fields.Boolean(load_default=False)
    stamps = fields.Dict(keys=fields.String(), values=fields.String(), load_default=dict)


class CustomerCardData(_Data):
    """A card held by a customer: any card scanned at any store finds its holder."""

    number = fields.String(required=True, validate=validate.Length(min=1, max=64))
    customer = _uuid(required=True)
    kind = fields.String(required=True, validate=validate.OneOf(("loyalty", "partner", "vip")))
    active = fields.Boolean(required=True)


class PointsBalanceData(_Data):
    """A customer's points balance as central's ledger last had it (the sum of its
    entries); the store spends offline against it (docs/protocol.md, offline spending)."""

    customer = _uuid(required=True)
    points = fields.Decimal(required=True)
    updated_at = fields.String(required=True, validate=validate.Length(min=1, max=64))


class CustomerFieldData(_Data):
    """An extra question of head office's customer form (the record's ``extra.{code}``)."""

    code = _code(required=True)
    label = fields.String(required=True)
    kind = fields.String(required=True,
                         validate=validate.OneOf(("text", "number", "date", "choice")))
    choices = fields.List(fields.String(), load_default=list)
    position = fields.Integer(load_default=0)
    active = fields.Boolean(load_default=True)


class CustomerPolicyData(_Data):
    """The fields every till requires on a customer (key ``default``)."""

    scope = _code(required=True)
    mandatory = fields.List(fields.String(), load_default=list)


class CustomerAlertData(_Data):
    """A message the till shows for customers matching ``condition`` (rules.conditions
    language), in ``position`` order."""

    code = _code(required=True)
    position = fields.Integer(required=True)
    condition = fields.String(required=True)
    message = fields.String(required=True)
    active = fields.Boolean(load_default=True)


class CustomerRedirectData(_Data):
    """A customer merged into another: the old id now leads to ``survivor``."""

    old = _uuid(required=True)
    survivor = _uuid(required=True)
class InstructionData(_Data):
    """An instruction from head office to the store's tills (store-config): shown between
    ``valid_from`` and ``valid_until`` (either open), scrolling when ``scroll``, to every
    cashier or only to ``cashier``."""

    id = fields.String(required=True, validate=validate.Length(min=1, max=32))
    text = fields.String(required=True, validate=validate.Length(min=1, max=2000))
    scroll = fields.Boolean(required=True)
    valid_from = _optional(fields.String)  # ISO 8601, aware
    valid_until = _optional(fields.String)
    cashier = _optional(fields.String, validate=validate.Length(min=1, max=32))


class SellerMessageData(_Data):
    """The store's message to the seller (store-config): a nudge at the till."""

    store = _code(required=True)
    text = fields.String(required=True, validate=validate.Length(min=1, max=500))


class _ChoiceData(_Data):
    code = fields.String(required=True, validate=validate.Length(min=1, max=32))
    text = fields.String(required=True, validate=validate.Length(min=1, max=200))


class _QuestionData(_Data):
    code = fields.String(required=True, validate=validate.Length(min=1, max=32))
    text = fields.String(required=True, validate=validate.Length(min=1, max=500))
    choices = fields.List(fields.Nested(_ChoiceData), required=True,
                          validate=validate.Length(min=2, max=9))


class SurveyData(_Data):
    """The survey the store's tills ask after a sale (store-config; one per store, key =
    store): its questions in order, each with its answer choices."""

    store = _code(required=True)
    code = fields.String(required=True, validate=validate.Length(min=1, max=32))
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    questions = fields.List(fields.Nested(_QuestionData), required=True,
                            validate=validate.Length(min=1, max=20))


class _DisplayItemData(_Data):
    kind = fields.String(required=True, validate=validate.OneOf(["image", "video", "url"]))
    src = fields.String(required=True, validate=validate.Length(min=1, max=2000))
    seconds = _optional(fields.Integer, validate=validate.Range(min=1, max=3600))


class DisplayContentData(_Data):
    """The promotional content of the store's customer display (store-config, key = store),
    set for the store or its group: images and videos (http(s) URLs the agent downloads and
    caches) and web pages, in rotation."""

    store = _code(required=True)
    source = fields.String(required=True, validate=validate.Length(min=1, max=80))
    items = fields.List(fields.Nested(_DisplayItemData), required=True,
                        validate=validate.Length(max=100))


_MISSING = object()
FastLoader = Callable[[Mapping[str, Any]], "dict[str, Any] | None"]


class _Fallback(Exception):
    """The fast path cannot decide: marshmallow loads the data (and words the error)."""


def _fast_check(validator: Callable[[Any], Any]) -> Callable[[Any], bool]:
    """``validator`` as a test that is True when it passes: the usual ones (length, pattern,
    choice) inline, as marshmallow checks them; any other is called."""
    if type(validator) is validate.Length and validator.equal is None:
        low, high = validator.min, validator.max
        return lambda value: ((low is None or len(value) >= low)
                              and (high is None or len(value) <= high))
    if type(validator) is validate.Regexp:
        pattern: re.Pattern[str] = validator.regex  # type: ignore[assignment]
        return lambda value: type(value) is str and pattern.match(value) is not None
    if type(validator) is validate.OneOf:
        try:
            choices = frozenset(validator.choices)
        except TypeError:
            pass
        else:
            return lambda value: value in choices

    def called(value: Any) -> bool:
        validator(value)
        return True
    return called


def _fast_field(field: fields.Field[Any]) -> Callable[[Any], Any] | None:
    """A converter doing what ``field`` does for the plain values central sends (str, bool,
    int, lists of str), raising _Fallback for anything else; None if unsupported."""
    checks = tuple(_fast_check(validator) for validator in field.validators)

    def checked(value: Any) -> Any:
        for check in checks:
            try:
                passed = check(value)
            except (ValidationError, TypeError):
                passed = False
            if not passed:
                raise _Fallback
        return value

    if isinstance(field, fields.String):
        if not checks:  # most of a product's fields: one call per field, not two
            def plain_string(value: Any) -> Any:
                if type(value) is not str:
                    raise _Fallback
                return value
            return plain_string

        def string(value: Any) -> Any:
            if type(value) is not str:
                raise _Fallback
            return checked(value)
        return string
    if isinstance(field, fields.Boolean):
        if not checks:
            def plain_boolean(value: Any) -> Any:
                if value is not True and value is not False:
                    raise _Fallback
                return value
            return plain_boolean

        def boolean(value: Any) -> Any:
            if value is not True and value is not False:
                raise _Fallback
            return checked(value)
        return boolean
    if isinstance(field, fields.Decimal):
        if field.places is not None or field.allow_nan or field.as_string:
            return None

        def number(value: Any) -> Any:
            if type(value) is Decimal:
                result = value  # what Decimal(str(value)) gives: the wire's are read as such
            elif type(value) is str or isinstance(value, Decimal):
                try:
                    result = Decimal(str(value))
                except InvalidOperation:
                    raise _Fallback from None
            else:
                raise _Fallback
            if not result.is_finite():
                raise _Fallback
            return checked(result) if checks else result
        return number
    if isinstance(field, fields.Integer):
        if field.strict:
            return None

        def integer(value: Any) -> Any:
            if type(value) is not int:
                raise _Fallback
            return checked(value)
        return integer
    if isinstance(field, fields.Dict):
        if field.key_field is None or field.value_field is None:
            return None
        key = _fast_field(field.key_field)
        item = _fast_field(field.value_field)
        if key is None or item is None:
            return None

        def mapping(value: Any) -> Any:
            if type(value) is not dict:
                raise _Fallback
            return checked({key(k): item(v) for k, v in value.items()})
        return mapping
    if isinstance(field, fields.List):
        inner = _fast_field(field.inner)
        if inner is None:
            return None

        def listed(value: Any) -> Any:
            if type(value) is not list:
                raise _Fallback
            return checked([inner(item) for item in value])
        return listed
    return None


def fast_loader(schema: Schema) -> FastLoader | None:
    """What ``schema.load`` returns, sooner, for data made only of plain values; None from
    the loader means "ask marshmallow". No loader for schemas with hooks or other fields.

    A store applies every change through its entity's schema: for a catalogue of tens of
    thousands of products marshmallow alone would double the time a snapshot takes.
    """
    if any(schema._hooks.values()) or schema.opts.unknown != EXCLUDE:  # noqa: SLF001
        return None
    converters: dict[str, tuple[Callable[[Any], Any], bool]] = {}
    required: list[str] = []
    fixed: dict[str, Any] = {}
    made: list[tuple[str, Callable[[], Any]]] = []
    for name, field in schema.load_fields.items():
        convert = _fast_field(field)
        if convert is None or field.data_key not in (None, name) or field.attribute:
            return None
        converters[name] = (convert, field.allow_none)
        default = field.load_default
        if field.required:
            required.append(name)
        elif callable(default):
            made.append((name, default))
        elif default is not missing:
            fixed[name] = default

    # Only the fields present are looked at (a customer has 36, a record sets a dozen):
    # the plain defaults are one dict copy.
    def load(data: Mapping[str, Any]) -> dict[str, Any] | None:
        result = dict(fixed)
        try:
            for name, value in data.items():
                known = converters.get(name)
                if known is None:
                    continue  # unknown fields are excluded
                if value is None:
                    if not known[1]:
                        return None
                    result[name] = None
                else:
                    result[name] = known[0](value)
        except _Fallback:
            return None
        for name in required:
            if name not in data:
                return None
        for name, make in made:
            if name not in data:
                result[name] = make()
        return result
    return load


class LoyaltyProfileData(_Data):
    """A loyalty profile (rules.cards.LoyaltyProfile); ``accrual`` and ``redemption`` are
    the options of protocol.loyalty, checked by it when the store builds the policies."""

    code = _code(required=True)
    description = fields.String(required=True)
    default = fields.Boolean(required=True)
    card_prefix = fields.String(required=True, validate=validate.Regexp(r"^[0-9]{1,12}$"))
    alternative_prefixes = fields.List(fields.String(), load_default=list)
    ean_prefix = _optional(fields.String)
    discount_percent = fields.Decimal(required=True)
    version = fields.Integer(required=True)
    accrual = fields.Dict(required=True)
    redemption = fields.Dict(required=True)


class LoyaltyLevelData(_Data):
    code = _code(required=True)
    name = fields.String(load_default="")
    points = fields.Decimal(required=True)


class LoyaltyGiftData(_Data):
    """A product flagged as a gift of a level; ``points`` (if set) overrides the level's."""

    sku = _code(required=True)
    level = _code(required=True)
    points = _optional(fields.Decimal)
    level_points = fields.Decimal(required=True)


class PointsValueData(_Data):
    """A product's points value under a profile (rules.loyalty.redemption)."""

    profile = _code(required=True)
    sku = _code(required=True)
    points = fields.Decimal(required=True)
    basis = fields.String(required=True)
    cost = _optional(fields.Decimal)
    markup = _optional(fields.Decimal)
    ratio = _optional(fields.Decimal)
    profile_version = fields.Integer(required=True)


@dataclass(frozen=True)
class Entity:
    """One synced entity: ``name`` on the wire, its ``bucket`` and its ``data`` schema.

    The key of an entry is its ``key_fields`` joined by ``|`` (a missing part is ``-``).
    """

    name: str
    bucket: str
    schema: Schema
    key_fields: tuple[str, ...]
    _fast: FastLoader | None = dataclasses.field(init=False, repr=False, compare=False,
                                                 default=None)

    def key_of(self, data: Mapping[str, Any]) -> str:
        """The entry key central uses for ``data`` (wire form)."""
        return KEY_SEPARATOR.join(NONE_PART if data.get(f) in (None, "") else str(data[f])
                                  for f in self.key_fields)

    def key_parts(self, key: str) -> dict[str, str | None]:
        """Inverse of :meth:`key_of`: the key fields by name (``-`` read as None)."""
        parts = key.split(KEY_SEPARATOR, len(self.key_fields) - 1)
        parts += [NONE_PART] * (len(self.key_fields) - len(parts))
        return {f: None if p == NONE_PART else p for f, p in zip(self.key_fields, parts,
                                                                  strict=True)}

    def __post_init__(self) -> None:
        object.__setattr__(self, "_fast", fast_loader(self.schema))

    def load(self, key: str, data: Mapping[str, Any]) -> dict[str, Any]:
        """``data`` validated and converted (Decimal, bool, defaults); WireError if bad."""
        if self._fast is not None:
            loaded_fast = self._fast(data)
            if loaded_fast is not None:
                return loaded_fast
        return load_checked(self.schema, data, f"{self.name} {key!r}")


class Registry:
    """Entities by name; a test may build its own with one more."""

    def __init__(self, *entities: Entity) -> None:
        self._by_name: dict[str, Entity] = {}
        for entity in entities:
            if entity.name in self._by_name:
                raise ValueError(f"entity {entity.name!r} registered twice")
            self._by_name[entity.name] = entity

    def __iter__(self) -> Iterator[Entity]:
        return iter(self._by_name.values())

    def __len__(self) -> int:
        return len(self._by_name)

    def get(self, name: str) -> Entity | None:
        return self._by_name.get(name)

    def __getitem__(self, name: str) -> Entity:
        return self._by_name[name]

    def in_bucket(self, bucket: str) -> list[Entity]:
        return [e for e in self if e.bucket == bucket]

    def with_(self, *entities: Entity) -> Registry:
        """A new registry holding these entities as well."""
        return Registry(*self, *entities)


ENTITIES = Registry(
    Entity("category", CATALOG, CategoryData(), ("code",)),
    Entity("brand", CATALOG, BrandData(), ("code",)),
    Entity("family", CATALOG, FamilyData(), ("code",)),
    Entity("product", CATALOG, ProductData(), ("sku",)),
    Entity("store", STORE_CONFIG, StoreData(), ("code",)),
    Entity("receipt_profile", STORE_CONFIG, ReceiptProfileData(), ("scope",)),
    Entity("cashier", STORE_CONFIG, CashierData(), ("code",)),
    Entity("instruction", STORE_CONFIG, InstructionData(), ("id",)),
    Entity("seller_message", STORE_CONFIG, SellerMessageData(), ("store",)),
    Entity("survey", STORE_CONFIG, SurveyData(), ("store",)),
    Entity("display_content", STORE_CONFIG, DisplayContentData(), ("store",)),
    Entity("price", PRICES, PriceData(), ("sku", "effective_from")),
    Entity("policy", POLICIES, PolicyData(), ("code",)),
    Entity("partner_programme", PARTNERS, PartnerProgrammeData(), ("code",)),
    Entity("partner_card", PARTNERS, PartnerCardData(), ("programme", "first", "last")),
    Entity("vip_card", PARTNERS, VipCardData(), ("code",)),
    Entity("loyalty_profile", LOYALTY, LoyaltyProfileData(), ("code",)),
    Entity("loyalty_level", LOYALTY, LoyaltyLevelData(), ("code",)),
    Entity("loyalty_gift", LOYALTY, LoyaltyGiftData(), ("sku",)),
    Entity("points_value", LOYALTY, PointsValueData(), ("profile", "sku")),
    Entity("customer", CUSTOMERS, CustomerData(), ("id",)),
    Entity("customer_card", CUSTOMERS, CustomerCardData(), ("number",)),
    Entity("customer_field", CUSTOMERS, CustomerFieldData(), ("code",)),
    Entity("customer_policy", CUSTOMERS, CustomerPolicyData(), ("scope",)),
    Entity("customer_alert", CUSTOMERS, CustomerAlertData(), ("code",)),
    Entity("customer_redirect", CUSTOMERS, CustomerRedirectData(), ("old",)),
    Entity("points_balance", CUSTOMERS, PointsBalanceData(), ("customer",)),
)
"""Every entity of this protocol version."""
