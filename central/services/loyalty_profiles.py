"""Loyalty profiles (SPEC L1, seeds/002 "Profili Clienti"): cards, discount level, accrual
and redemption options, each change a new version kept for ever.

A profile travels to every store on the ``loyalty`` stream (the programme is chain-wide).
Every write bumps the profile's version and stores the whole profile at that version, so a
sale the store computed with version N is recomputed at central with version N exactly.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from central.models.loyalty import LoyaltyProfileRow, LoyaltyProfileVersion
from central.services import changelog, points_values
from central.services.errors import Conflict, Invalid, NotFound
from protocol.encoding import dumps
from protocol.loyalty import (
    accrual_from_wire,
    accrual_to_wire,
    redemption_from_wire,
    redemption_to_wire,
)
from protocol.streams import ALL, LOYALTY
from rules.cards import CardError, LoyaltyProfile, check_profiles
from rules.loyalty.errors import InvalidPolicy

BUCKET = LOYALTY
CODE = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
DIGITS = re.compile(r"^[0-9]{1,12}$")
HUNDRED = Decimal(100)


def invalid(exc: InvalidPolicy) -> Invalid:
    return Invalid(str(exc), {exc.field: [exc.message]})


def rules_profile(row: LoyaltyProfileRow) -> LoyaltyProfile:
    """The profile as the rules take it (cards, discount level, accrual, redemption)."""
    return LoyaltyProfile(row.code, row.description, row.card_prefix,
                          tuple(row.alternative_prefixes.split()), row.ean_prefix,
                          row.is_default, row.discount_percent, row.version,
                          accrual_from_wire(json.loads(row.accrual)),
                          redemption_from_wire(json.loads(row.redemption)))


def wire(row: LoyaltyProfileRow) -> dict[str, Any]:
    return {"code": row.code, "description": row.description, "default": row.is_default,
            "card_prefix": row.card_prefix,
            "alternative_prefixes": row.alternative_prefixes.split(),
            "ean_prefix": row.ean_prefix, "discount_percent": str(row.discount_percent),
            "version": row.version, "accrual": json.loads(row.accrual),
            "redemption": json.loads(row.redemption)}


def get_profile(session: Session, code: str, *, lock: bool = False) -> LoyaltyProfileRow:
    query = select(LoyaltyProfileRow).where(LoyaltyProfileRow.code == code)
    row = session.scalar(query.with_for_update() if lock else query)
    if row is None:
        raise NotFound(f"no loyalty profile {code!r}")
    return row


def profile_or_default(session: Session, code: str | None) -> LoyaltyProfileRow:
    """Profile ``code``, or the default profile when no code is given."""
    if code:
        return get_profile(session, code)
    row = session.scalar(select(LoyaltyProfileRow).where(LoyaltyProfileRow.is_default.is_(True)))
    if row is None:
        raise NotFound("no default loyalty profile: name one", {"profile": ["required"]})
    return row


def list_profiles(session: Session) -> list[LoyaltyProfileRow]:
    return list(session.scalars(select(LoyaltyProfileRow).order_by(LoyaltyProfileRow.code)))


def profile_at(session: Session, code: str, version: int) -> LoyaltyProfile:
    """The profile exactly as it was at ``version`` (what a store computed a sale with)."""
    data = session.scalar(select(LoyaltyProfileVersion.data).where(
        LoyaltyProfileVersion.profile_code == code, LoyaltyProfileVersion.version == version))
    if data is None:
        raise NotFound(f"loyalty profile {code!r} has no version {version}",
                       {"profile_version": [f"unknown version of {code}"]})
    body = json.loads(data)
    return LoyaltyProfile(code, body["description"], body["card_prefix"],
                          tuple(body["alternative_prefixes"]), body["ean_prefix"],
                          body["default"], Decimal(body["discount_percent"]), version,
                          accrual_from_wire(body["accrual"]),
                          redemption_from_wire(body["redemption"]))


def _digits(value: Any, field: str, errors: dict[str, list[str]]) -> None:
    if not isinstance(value, str) or not DIGITS.match(value):
        errors.setdefault(field, []).append("1 to 12 digits")


def _validated(data: dict[str, Any]) -> dict[str, Any]:
    """The row's values from the REST/console data, or Invalid naming every bad field."""
    errors: dict[str, list[str]] = {}
    _digits(data.get("card_prefix"), "card_prefix", errors)
    alternatives = list(data.get("alternative_prefixes") or [])
    for prefix in alternatives:
        _digits(prefix, "alternative_prefixes", errors)
    if len(set(alternatives)) != len(alternatives) or data.get("card_prefix") in alternatives:
        errors.setdefault("alternative_prefixes", []).append("a prefix is listed twice")
    ean = data.get("ean_prefix") or None
    if ean is not None:
        _digits(ean, "ean_prefix", errors)
    percent = data.get("discount_percent", Decimal(0))
    if not isinstance(percent, Decimal) or not Decimal(0) <= percent <= HUNDRED:
        errors.setdefault("discount_percent", []).append("from 0 to 100")
    if not str(data.get("description") or "").strip():
        errors.setdefault("description", []).append("is required")
    if errors:
        raise Invalid("the loyalty profile is not valid", errors)
    try:
        accrual = accrual_to_wire(accrual_from_wire(data.get("accrual")))
        redemption = redemption_to_wire(redemption_from_wire(data.get("redemption")))
    except InvalidPolicy as exc:
        raise invalid(exc) from exc
    return {"description": str(data["description"]).strip(),
            "is_default": bool(data.get("default", False)),
            "card_prefix": data["card_prefix"], "alternative_prefixes": " ".join(alternatives),
            "ean_prefix": ean, "discount_percent": percent,
            "accrual": dumps(accrual).decode(), "redemption": dumps(redemption).decode()}


def _check_prefixes(session: Session, row: LoyaltyProfileRow) -> None:
    others = [rules_profile(p) for p in list_profiles(session) if p.code != row.code]
    mine = LoyaltyProfile(row.code, row.description, row.card_prefix,
                          tuple(row.alternative_prefixes.split()), row.ean_prefix)
    try:
        check_profiles([*others, mine])
    except CardError as exc:
        raise Conflict(str(exc), {"card_prefix": [str(exc)]}) from exc
    for other in others:
        if row.ean_prefix and row.ean_prefix == other.ean_prefix:
            raise Conflict(f"EAN profile prefix {row.ean_prefix} belongs to {other.code}",
                           {"ean_prefix": [f"already used by {other.code}"]})


def _commit_version(session: Session, row: LoyaltyProfileRow, now: dt.datetime) -> None:
    row.updated_at = now
    session.flush()
    data = wire(row)
    session.add(LoyaltyProfileVersion(profile_code=row.code, version=row.version,
                                      data=dumps(data).decode(), created_at=now))
    changelog.record(session, BUCKET, ALL, "loyalty_profile", row.code, "upsert", data)


def _only_default(session: Session, row: LoyaltyProfileRow, now: dt.datetime) -> None:
    if not row.is_default:
        return
    for other in session.scalars(select(LoyaltyProfileRow).where(
            LoyaltyProfileRow.is_default.is_(True), LoyaltyProfileRow.code != row.code)
            .with_for_update()):
        other.is_default = False
        other.version += 1
        _commit_version(session, other, now)


def create_profile(session: Session, code: str, data: dict[str, Any],
                   now: dt.datetime) -> LoyaltyProfileRow:
    if not CODE.match(code or ""):
        raise Invalid("bad profile code", {"code": ["1 to 32 letters, digits, - or _"]})
    if session.scalar(select(LoyaltyProfileRow.id).where(LoyaltyProfileRow.code == code)):
        raise Conflict(f"loyalty profile {code!r} already exists", {"code": ["already exists"]})
    row = LoyaltyProfileRow(code=code, version=1, **_validated(data))
    _check_prefixes(session, row)
    session.add(row)
    _commit_version(session, row, now)
    _only_default(session, row, now)
    _refresh_values(session, row)
    return row


def update_profile(session: Session, code: str, changes: dict[str, Any],
                   now: dt.datetime) -> LoyaltyProfileRow:
    """Change some of a profile's fields (the others stay); a new version."""
    row = get_profile(session, code, lock=True)
    merged = {**wire(row), **changes}
    merged["discount_percent"] = (changes["discount_percent"] if "discount_percent" in changes
                                  else row.discount_percent)
    values = _validated(merged)
    for name, value in values.items():
        setattr(row, name, value)
    _check_prefixes(session, row)
    row.version += 1
    _commit_version(session, row, now)
    _only_default(session, row, now)
    _refresh_values(session, row)
    return row


def _refresh_values(session: Session, row: LoyaltyProfileRow) -> None:
    points_values.refresh_profile(session, row)
