"""The chain's levels and gift products (SPEC L3, seeds/000), sent to every store.

Levels are point amounts; a product is flagged as a gift of one level (its cost is the
level's points unless the gift names its own). The whole programme is validated by
``rules.loyalty.levels.Programme`` before anything is written; a level is removed only
under the seeds/000 conditions (``level_removal_blockers``), the refusal naming which.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from central.models import Product
from central.models.loyalty import LoyaltyGift, LoyaltyLevel, PointsBalance
from central.services import changelog
from central.services.errors import Conflict, Invalid, NotFound
from protocol.streams import ALL, LOYALTY
from rules.loyalty.errors import InvalidPolicy
from rules.loyalty.levels import Gift, Level, Programme, level_removal_blockers

BUCKET = LOYALTY
CODE = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
CENTS = Decimal("0.01")
"""Points are whole or to the hundredth (fractional points)."""
MAX_POINTS = Decimal(1_000_000_000)


def level_wire(level: LoyaltyLevel) -> dict[str, Any]:
    return {"code": level.code, "name": level.name, "points": str(level.points)}


def gift_wire(gift: LoyaltyGift, level: LoyaltyLevel) -> dict[str, Any]:
    return {"sku": gift.sku, "level": level.code,
            "points": None if gift.points is None else str(gift.points),
            "level_points": str(level.points)}


def list_levels(session: Session) -> list[LoyaltyLevel]:
    return list(session.scalars(select(LoyaltyLevel).order_by(LoyaltyLevel.points)))


def list_gifts(session: Session) -> list[tuple[LoyaltyGift, LoyaltyLevel]]:
    return [(g, lv) for g, lv in session.execute(
        select(LoyaltyGift, LoyaltyLevel).join(LoyaltyLevel,
                                               LoyaltyGift.level_id == LoyaltyLevel.id)
        .order_by(LoyaltyLevel.points, LoyaltyGift.sku))]


def programme(session: Session) -> Programme:
    return Programme(tuple(Level(lv.code, lv.points, lv.name) for lv in list_levels(session)),
                     tuple(Gift(g.sku, lv.code, g.points) for g, lv in list_gifts(session)))


def _check(candidate_levels: list[Level], candidate_gifts: list[Gift], field: str) -> None:
    try:
        Programme(tuple(candidate_levels), tuple(candidate_gifts))
    except InvalidPolicy as exc:
        raise Invalid(exc.message, {field: [exc.message]}) from exc


def _bounded(points: Decimal, field: str) -> None:
    if not points.is_finite() or abs(points) > MAX_POINTS:
        raise Invalid(f"{field} out of range", {field: [f"at most {MAX_POINTS}"]})


def _level(session: Session, code: str) -> LoyaltyLevel:
    level = session.scalar(select(LoyaltyLevel).where(LoyaltyLevel.code == code))
    if level is None:
        raise NotFound(f"no loyalty level {code!r}")
    return level


def put_level(session: Session, code: str, points: Decimal, name: str = "") -> LoyaltyLevel:
    if not CODE.match(code or ""):
        raise Invalid("bad level code", {"code": ["1 to 32 letters, digits, - or _"]})
    _bounded(points, "points")
    current = programme(session)
    levels = [lv for lv in current.levels if lv.code != code] + [Level(code, points, name)]
    _check(levels, list(current.gifts), "points")
    level = session.scalar(select(LoyaltyLevel).where(LoyaltyLevel.code == code))
    if level is None:
        level = LoyaltyLevel(code=code)
        session.add(level)
    level.points, level.name = points.quantize(CENTS), name
    session.flush()
    changelog.record(session, BUCKET, ALL, "loyalty_level", code, "upsert", level_wire(level))
    for gift in session.scalars(select(LoyaltyGift).where(LoyaltyGift.level_id == level.id)):
        changelog.record(session, BUCKET, ALL, "loyalty_gift", gift.sku, "upsert",
                         gift_wire(gift, level))
    return level


def delete_level(session: Session, code: str) -> None:
    """Remove a level, or Conflict naming each seeds/000 condition that keeps it."""
    level = _level(session, code)
    balances = session.scalars(select(PointsBalance.points))
    blockers = level_removal_blockers(programme(session), code, balances)
    if blockers:
        raise Conflict(f"level {code!r} cannot be removed: "
                       + "; ".join(b.message for b in blockers),
                       {b.condition: [b.message] for b in blockers})
    session.delete(level)
    session.flush()
    changelog.record(session, BUCKET, ALL, "loyalty_level", code, "delete", None)


def put_gift(session: Session, sku: str, level_code: str,
             points: Decimal | None = None) -> tuple[LoyaltyGift, LoyaltyLevel]:
    errors: dict[str, list[str]] = {}  # every field at once, not the first one only
    level = session.scalar(select(LoyaltyLevel).where(LoyaltyLevel.code == level_code))
    if level is None:
        errors["level"] = [f"no level {level_code!r}"]
    if session.scalar(select(Product.id).where(Product.sku == sku)) is None:
        errors["sku"] = [f"no product {sku!r}"]
    if points is not None and (not points.is_finite() or not 0 < points <= MAX_POINTS):
        errors["points"] = [f"more than 0, at most {MAX_POINTS}"]
    if errors:
        raise Invalid(f"no loyalty level {level_code!r}" if level is None
                      else "the gift is not valid", errors)
    assert level is not None
    current = programme(session)
    gifts = [g for g in current.gifts if g.sku != sku] + [Gift(sku, level_code, points)]
    _check(list(current.levels), gifts, "points")
    gift = session.scalar(select(LoyaltyGift).where(LoyaltyGift.sku == sku))
    if gift is None:
        gift = LoyaltyGift(sku=sku)
        session.add(gift)
    gift.level_id, gift.points = level.id, None if points is None else points.quantize(CENTS)
    session.flush()
    changelog.record(session, BUCKET, ALL, "loyalty_gift", sku, "upsert",
                     gift_wire(gift, level))
    return gift, level


def delete_gift(session: Session, sku: str) -> None:
    gift = session.scalar(select(LoyaltyGift).where(LoyaltyGift.sku == sku))
    if gift is None:
        raise NotFound(f"{sku!r} is not a gift")
    session.delete(gift)
    session.flush()
    changelog.record(session, BUCKET, ALL, "loyalty_gift", sku, "delete", None)
