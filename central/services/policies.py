"""Discount policies: sales rules (C3), promotions (C4) and exclusions (C5).

A policy is kept as its wire form (docs/protocol.md) in ``Policy.definition``; every write
bumps its version and records the whole wire form on the ``policies`` stream, which every
store follows. Contradictory definitions are refused here, before any store sees them.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from central.models import Brand, Category, Family, Policy, Product, Store, StoreGroup
from central.services import changelog
from central.services.catalog import page
from central.services.errors import Conflict, Invalid, NotFound
from central.services.stores import get_store
from protocol.encoding import dumps
from protocol.streams import ALL, POLICIES
from rules.policies import applies_to_store

BUCKET = POLICIES
KINDS = ("sales_rule", "promotion", "exclusion")
TARGET_KINDS = ("all", "category", "brand", "family", "product")
PROMOTION_TYPES = ("quantity", "fixed_price")
# The fields that belong to each kind (and promotion type) besides the common ones.
_OWN_FIELDS = {"sales_rule": {"percent"}, "exclusion": set(),
               "quantity": {"promotion", "buy", "get", "percent"},
               "fixed_price": {"promotion", "price"}}
_KIND_FIELDS = {"percent", "promotion", "buy", "get", "price"}
_MAX_UNITS = 100
KIND_LABEL = {"sales_rule": "sales rule", "promotion": "promotion", "exclusion": "exclusion"}


class Problems:
    """Field messages gathered while checking a definition, raised together."""

    def __init__(self) -> None:
        self.errors: dict[str, list[str]] = {}

    def add(self, field: str, message: str) -> None:
        self.errors.setdefault(field, []).append(message)

    def raise_if_any(self, what: str) -> None:
        if self.errors:
            raise Invalid(f"invalid {what}", self.errors)


# -- checks shared with partner programmes and VIP cards --------------------------------------

def check_percent(problems: Problems, field: str, value: Any, zero_reason: str) -> str | None:
    """A rate in (0, 100] with at most two decimals, as its two-decimal string."""
    number = _decimal(problems, field, value)
    if number is None:
        return None
    if number <= 0:
        problems.add(field, f"must be more than 0 ({zero_reason})")
    elif number > 100:
        problems.add(field, "must be at most 100 (a discount cannot exceed the price)")
    else:
        return str(number.quantize(Decimal("0.01")))
    return None


def _decimal(problems: Problems, field: str, value: Any) -> Decimal | None:
    if value is None:
        problems.add(field, "required")
        return None
    if isinstance(value, bool | float):
        problems.add(field, "must be a decimal string such as \"12.50\"")
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        problems.add(field, "must be a decimal number")
        return None
    if not number.is_finite():
        problems.add(field, "must be a finite number")
        return None
    exponent = number.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -2 and number != number.quantize(Decimal("0.01")):
        problems.add(field, "at most two decimals")
        return None
    return number


def check_places(session: Session, problems: Problems, stores: Any,
                 groups: Any) -> tuple[list[str], list[str]]:
    """Stores and store groups that must all exist; sorted, without repeats."""
    result: list[list[str]] = []
    for field, model, what, codes in (("stores", Store, "store", stores),
                                      ("groups", StoreGroup, "store group", groups)):
        codes = _code_list(problems, field, codes)
        known = set(session.scalars(select(model.code).where(model.code.in_(codes)))) \
            if codes else set()
        for code in codes:
            if code not in known:
                problems.add(field, f"no {what} {code!r}")
        result.append(codes)
    return result[0], result[1]


def _code_list(problems: Problems, field: str, codes: Any) -> list[str]:
    if codes is None:
        return []
    if not isinstance(codes, list | tuple) or not all(isinstance(c, str) for c in codes):
        problems.add(field, "must be a list of codes")
        return []
    return sorted(set(codes))


def iso(moment: dt.datetime | None) -> str | None:
    if moment is None:
        return None
    if moment.tzinfo is None:
        raise ValueError("naive datetime refused: use UTC-aware datetimes")
    return moment.astimezone(dt.UTC).isoformat()


def check_moment(problems: Problems, field: str, value: Any) -> dt.datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value)
        except ValueError:
            problems.add(field, "must be an ISO-8601 date and time")
            return None
    if not isinstance(value, dt.datetime) or value.tzinfo is None:
        problems.add(field, "must be a date and time with a UTC offset")
        return None
    return value


# -- the definition ---------------------------------------------------------------------------

def _period(problems: Problems, data: Any) -> dict[str, str | None]:
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        problems.add("period", "must be an object {start, end}")
        return {"start": None, "end": None}
    start = check_moment(problems, "period", data.get("start"))
    end = check_moment(problems, "period", data.get("end"))
    if start is not None and end is not None and end <= start:
        problems.add("period", f"the end ({iso(end)}) must come after the start ({iso(start)})")
    return {"start": iso(start), "end": iso(end)}


_TARGET_CODES: dict[str, Any] = {"category": Category.code, "brand": Brand.code,
                                 "family": Family.code, "product": Product.sku}


def _target(session: Session, problems: Problems, kind: str, data: Any) -> dict[str, Any]:
    if data is None:
        data = {"kind": "all"}
    if not isinstance(data, Mapping):
        problems.add("target", "must be an object {kind, codes}")
        return {"kind": "all", "codes": []}
    target_kind = data.get("kind", "all")
    codes = _code_list(problems, "target", data.get("codes"))
    if target_kind not in TARGET_KINDS:
        problems.add("target", f"kind must be one of {', '.join(TARGET_KINDS)}")
        return {"kind": "all", "codes": []}
    if target_kind == "all":
        if codes:
            problems.add("target", "a target of kind 'all' takes no codes")
        if kind == "exclusion":
            problems.add("target", "an exclusion of everything would forbid every discount; "
                                   "name the categories, brands, families or products to exclude")
        return {"kind": "all", "codes": []}
    if not codes:
        problems.add("target", f"name at least one {target_kind}")
        return {"kind": target_kind, "codes": []}
    column = _TARGET_CODES[target_kind]
    known = set(session.scalars(select(column).where(column.in_(codes))))
    for code in codes:
        if code not in known:
            problems.add("target", f"no {target_kind} {code!r}")
    return {"kind": target_kind, "codes": codes}


def _units(problems: Problems, field: str, value: Any, why: str) -> int | None:
    if value is None:
        problems.add(field, "required")
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        problems.add(field, "must be a whole number")
        return None
    if value < 1:
        problems.add(field, f"must be at least 1 ({why})")
        return None
    if value > _MAX_UNITS:
        problems.add(field, f"must be at most {_MAX_UNITS}")
        return None
    return value


def _own_fields(problems: Problems, kind: str, mode: str | None, provided: Iterable[str]) -> None:
    """Refuse fields given that the kind (or promotion type) would silently ignore."""
    own = _OWN_FIELDS[mode or kind]
    for field in sorted(set(provided) & _KIND_FIELDS - own):
        where = f"{mode} promotions" if mode else f"{KIND_LABEL[kind]}s"
        problems.add(field, f"not used by {where}")


def _definition(session: Session, kind: str, data: Mapping[str, Any],
                provided: Iterable[str]) -> dict[str, Any]:
    """The checked wire form of ``data`` without code, version and active."""
    problems = Problems()
    name = data.get("name")
    if not isinstance(name, str) or not name.strip():
        problems.add("name", "required")
    elif len(name.strip()) > 200:
        problems.add("name", "at most 200 characters")
    stores, groups = check_places(session, problems, data.get("stores"), data.get("groups"))
    body: dict[str, Any] = {
        "kind": kind, "name": name.strip() if isinstance(name, str) else name,
        "stores": stores, "groups": groups,
        "period": _period(problems, data.get("period")),
        "target": _target(session, problems, kind, data.get("target")),
    }
    mode: str | None = None
    if kind == "sales_rule":
        body["percent"] = check_percent(problems, "percent", data.get("percent"),
                                        "a 0% rule discounts nothing")
    elif kind == "promotion":
        mode = data.get("promotion")
        if mode not in PROMOTION_TYPES:
            problems.add("promotion", f"must be one of {', '.join(PROMOTION_TYPES)}")
            mode = None
        elif mode == "quantity":
            body["promotion"] = mode
            body["buy"] = _units(problems, "buy", data.get("buy"),
                                 "with nothing to buy at full price, use a sales rule")
            body["get"] = _units(problems, "get", data.get("get"),
                                 "at least one unit must get the discount")
            body["percent"] = check_percent(problems, "percent", data.get("percent"),
                                            "the discounted units would cost the same")
        else:
            body["promotion"] = mode
            price = _decimal(problems, "price", data.get("price"))
            if price is not None and price < 0:
                problems.add("price", "must not be negative")
            elif price is not None:
                body["price"] = str(price.quantize(Decimal("0.01")))
    _own_fields(problems, kind, mode, provided)
    problems.raise_if_any(KIND_LABEL[kind])
    return body


# -- reads ------------------------------------------------------------------------------------

def wire(policy: Policy) -> dict[str, Any]:
    """The policy as stores receive it (docs/protocol.md)."""
    data: dict[str, Any] = json.loads(policy.definition)
    return data


def get(session: Session, code: str, kind: str | None = None, *,
        lock: bool = False) -> Policy:
    """A policy by code (of ``kind`` if given); ``lock`` holds its row until commit."""
    query = select(Policy).where(Policy.code == code)
    policy = session.scalar(query.with_for_update() if lock else query)
    if policy is None or (kind is not None and policy.kind != kind):
        raise NotFound(f"no {KIND_LABEL.get(kind or '', 'policy')} {code!r}")
    return policy


def list_policies(session: Session, page_no: int, size: int, *, kind: str | None = None,
                  active: bool | None = None,
                  store: str | None = None) -> tuple[list[Policy], int]:
    """Policies by code; ``store`` keeps those that concern that store."""
    query = select(Policy).order_by(Policy.code)
    if kind is not None:
        query = query.where(Policy.kind == kind)
    if active is not None:
        query = query.where(Policy.active.is_(active))
    if store is None:
        return page(session, query, page_no, size)
    # Stores and groups live in the definition; the policies are few, so filter here.
    outlet = get_store(session, store)
    group = outlet.group.code if outlet.group else None
    rows = [p for p in session.scalars(query)
            if applies_to_store(wire(p), outlet.code, group)]
    start = (page_no - 1) * size
    return rows[start:start + size], len(rows)


# -- writes -----------------------------------------------------------------------------------

def _save(session: Session, policy: Policy, body: dict[str, Any]) -> None:
    data = {**body, "code": policy.code, "kind": policy.kind, "version": policy.version,
            "active": policy.active}
    policy.name = data["name"]
    policy.definition = dumps(data).decode()
    policy.updated_at = dt.datetime.now(dt.UTC)
    session.flush()
    changelog.record(session, BUCKET, ALL, "policy", policy.code, "upsert", data)


def create(session: Session, kind: str, data: Mapping[str, Any]) -> Policy:
    """Create a policy of ``kind`` from its wire fields (code, name, target, ...)."""
    if kind not in KINDS:
        raise Invalid("unknown policy kind", {"kind": [f"must be one of {', '.join(KINDS)}"]})
    code = data.get("code")
    if not isinstance(code, str) or not code:
        raise Invalid(f"invalid {KIND_LABEL[kind]}", {"code": ["required"]})
    existing = session.scalar(select(Policy).where(Policy.code == code))
    if existing is not None:
        raise Conflict(f"policy {code!r} already exists (a {KIND_LABEL[existing.kind]})",
                       {"code": ["already used by another policy"]})
    body = _definition(session, kind, data, data.keys())
    policy = Policy(kind=kind, code=code, name=body["name"], version=1,
                    active=bool(data.get("active", True)), definition="{}")
    session.add(policy)
    _save(session, policy, body)
    return policy


def update(session: Session, code: str, changes: Mapping[str, Any],
           kind: str | None = None) -> Policy:
    """Change some fields; the whole result is checked again and sent with a new version.

    ``period`` is merged with the current one (send ``start: null`` to open it); ``target``
    is replaced as a whole.
    """
    policy = get(session, code, kind, lock=True)  # versions must not be lost to a race
    if not changes:
        raise Invalid("nothing to change")
    current = wire(policy)
    merged = {**current, **changes}
    if "period" in changes and isinstance(changes["period"], Mapping):
        merged["period"] = {**(current.get("period") or {}), **changes["period"]}
    if policy.kind == "promotion" and changes.get("promotion") not in (None,
                                                                        current["promotion"]):
        # Switching type: the old type's fields are dropped, the new one's must be given.
        for field in _KIND_FIELDS - {"promotion"}:
            if field not in changes:
                merged.pop(field, None)
    body = _definition(session, policy.kind, merged, changes.keys())
    if "active" in changes:
        policy.active = bool(changes["active"])
    policy.version += 1
    _save(session, policy, body)
    return policy


def deactivate(session: Session, code: str, kind: str | None = None) -> Policy:
    """Stop applying a policy everywhere; its history stays. Already inactive: no change."""
    policy = get(session, code, kind, lock=True)
    if not policy.active:
        return policy
    policy.active = False
    policy.version += 1
    _save(session, policy, wire(policy))
    return policy
