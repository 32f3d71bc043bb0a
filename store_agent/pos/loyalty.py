"""The store's side of loyalty: its copy of the programme (``loyalty`` bucket), the balances
central sends (``points_balance``), what a customer may spend here now, the gifts a customer
can take, and the loyalty side of a sale (provisional points, the gift taken).

**Offline spending** (docs/protocol.md): a store may spend, for a customer, the last balance
central sent minus the points its own sales not yet acknowledged by central (still in its
outbox) spent on gifts; what those sales earned does not count until central has booked it
(``rules.loyalty.ledger.offline_allowance``). Two offline stores can together spend more
than the balance: the customer goes negative at central, no sale is refused afterwards.

The provisional points are ``rules.loyalty.accrual.accrue`` of
``protocol.loyalty.sale_for_accrual`` over the sale body's lines, with the facts of the
store's catalogue: exactly what central recomputes from the same body at the same profile
version (it is authoritative; a difference is drift).
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from protocol.loyalty import LineFacts, accrual_from_wire, redemption_from_wire, sale_for_accrual
from rules.cards import LoyaltyProfile
from rules.loyalty.accrual import Accrual, accrue
from rules.loyalty.accrual_policy import AccrualPolicy
from rules.loyalty.errors import GiftRefused
from rules.loyalty.ledger import Entry, offline_allowance, spend_entry
from rules.loyalty.levels import MAX_GIFTS_PER_SALE, Gift, Level, Programme
from rules.pricing import Product
from store_agent.pos.customer_copy import customer_for_sale
from store_agent.pos.customers import UnknownCustomer
from store_agent.sqlite_store import LocalStore
from store_agent.sync.customer_tables import record_of

ZERO = Decimal(0)


class GiftNotAllowed(ValueError):
    """A gift line the sale cannot take; ``field`` names the request field (422)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def _profile(body: Mapping[str, Any]) -> LoyaltyProfile:
    return LoyaltyProfile(
        body["code"], body["description"], body["card_prefix"],
        tuple(body.get("alternative_prefixes") or ()), body.get("ean_prefix"),
        bool(body["default"]), Decimal(body["discount_percent"]), int(body["version"]),
        accrual_from_wire(body["accrual"]), redemption_from_wire(body["redemption"]))


def profiles_in(conn: sqlite3.Connection) -> list[LoyaltyProfile]:
    return [_profile(json.loads(data)) for (data,) in conn.execute(
        "SELECT data FROM loyalty_profiles ORDER BY code")]


def profiles(store: LocalStore) -> list[LoyaltyProfile]:
    """Every profile, with its accrual and redemption options, at the version central sent."""
    with store.read() as conn:
        return profiles_in(conn)


def programme_in(conn: sqlite3.Connection) -> Programme:
    levels = tuple(Level(r["code"], Decimal(r["points"]), r["name"]) for r in conn.execute(
        "SELECT code, name, points FROM loyalty_levels"))
    gifts = tuple(Gift(r["sku"], r["level"],
                       None if r["points"] is None else Decimal(r["points"]))
                  for r in conn.execute("SELECT sku, level, points FROM loyalty_gifts"))
    return Programme(levels, gifts)


def programme(store: LocalStore) -> Programme:
    with store.read() as conn:
        return programme_in(conn)


def customer_profile(conn: sqlite3.Connection,
                     record: Mapping[str, Any]) -> LoyaltyProfile | None:
    """The customer's profile (its record's ``profile``), else the default profile; None
    when the store holds neither."""
    every = profiles_in(conn)
    named = record.get("profile")
    return next((p for p in every if p.code == named), None) \
        or next((p for p in every if p.default), None)


# -- balances and the offline allowance ---------------------------------------------------

@dataclass(frozen=True)
class Standing:
    """What the store knows of a customer's points, and what it may spend now."""

    balance: Decimal
    """The last balance central sent (0 if it sent none)."""
    updated_at: str | None
    pending_spent: Decimal
    """Spent on gifts in this store's sales central has not acknowledged yet."""
    pending_earned: Decimal
    """Provisional points of those sales (not spendable until central books them)."""
    may_spend: Decimal

    @property
    def provisional(self) -> Decimal:
        """The balance as this store sees it: central's plus its own unsent sales."""
        return self.balance - self.pending_spent + self.pending_earned

    def as_dict(self) -> dict[str, Any]:
        return {"balance": str(self.balance), "updated_at": self.updated_at,
                "pending_spent": str(self.pending_spent),
                "pending_earned": str(self.pending_earned),
                "may_spend": str(self.may_spend), "provisional": str(self.provisional)}


UNSENT_SALES = ("SELECT body FROM outbox WHERE kind = 'sale' AND "
                "json_extract(body, '$.customer') = ? AND "
                "json_extract(body, '$.loyalty') IS NOT NULL ORDER BY seq")
"""A customer's queued sales with a loyalty side; the kind and the customer's expression are
those of the index ``outbox_sale_customer`` (agent migration 15)."""


def _unsent_sales(conn: sqlite3.Connection, customer: str) -> list[dict[str, Any]]:
    return [json.loads(r[0]) for r in conn.execute(UNSENT_SALES, (customer,))]


def pending_spends(conn: sqlite3.Connection, customer: str,
                   unsent: Sequence[Mapping[str, Any]] | None = None) -> tuple[Entry, ...]:
    """The spend entries of this store's sales central has not acknowledged yet."""
    entries = []
    for body in _unsent_sales(conn, customer) if unsent is None else unsent:
        at = dt.datetime.fromisoformat(body["created_at"])
        for gift in body["loyalty"].get("gifts") or ():
            entries.append(spend_entry(body["uuid"], int(gift["line"]), customer,
                                       Decimal(gift["points"]), at, store=body["store"]))
    return tuple(entries)


def standing(conn: sqlite3.Connection, customer: str) -> Standing:
    row = conn.execute("SELECT points, updated_at FROM points_balances WHERE customer = ?",
                       (customer,)).fetchone()
    balance = ZERO if row is None else Decimal(row["points"])
    unsent = _unsent_sales(conn, customer)
    spends = pending_spends(conn, customer, unsent)
    earned = sum((Decimal(b["loyalty"].get("points") or "0") for b in unsent), ZERO)
    spent = sum((-e.points for e in spends), ZERO)
    return Standing(balance, None if row is None else row["updated_at"], spent, earned,
                    offline_allowance(balance, spends))


# -- gifts ----------------------------------------------------------------------------------

def gift_refusal(prog: Programme, gift: Gift, known: Standing, *, product_known: bool,
                 taken: str | None) -> str | None:
    """Why the customer cannot take ``gift`` now (None: they can). ``taken`` is the gift
    already in the sale being rung up, if any."""
    if not product_known:
        return "the gift's product is not sold at this store"
    if taken is not None:
        return f"only one gift per sale: {taken} is already in this sale"
    level = prog.level(gift.level)
    if known.balance < level.points:
        return (f"level {level.code} not reached: it starts at {level.points} points, "
                f"the customer has {known.balance}")
    cost = prog.cost(gift)
    if known.may_spend < cost:
        return (f"not enough points: the gift costs {cost}, the customer may spend "
                f"{known.may_spend} now (balance {known.balance}, {known.pending_spent} spent "
                "in sales not yet acknowledged by head office)")
    return None


def customer_gifts(conn: sqlite3.Connection, customer: str,
                   taken: str | None = None) -> dict[str, Any]:
    """The customer's standing and every gift: its level, cost, whether it can be taken now
    and why not (cheapest first)."""
    prog = programme_in(conn)
    known = standing(conn, customer)
    record = record_of(conn, customer) or {}
    profile = customer_profile(conn, record)
    names = {r["sku"]: (r["name"], r["sale_price"], bool(r["active"])) for r in conn.execute(
        "SELECT p.sku, p.name, p.sale_price, p.active FROM products p "
        "JOIN loyalty_gifts g ON g.sku = p.sku")}
    levels = {lv.code: lv for lv in prog.levels}
    gifts = []
    for gift in prog.gifts:
        name, price, active = names.get(gift.sku, (None, None, False))
        reason = gift_refusal(prog, gift, known, product_known=active, taken=taken)
        gifts.append({"sku": gift.sku, "name": name, "sale_price": price, "level": gift.level,
                      "level_name": levels[gift.level].name,
                      "level_points": str(levels[gift.level].points),
                      "points": str(prog.cost(gift)), "can_take": reason is None,
                      "reason": reason})
    gifts.sort(key=lambda g: (Decimal(g["points"]), g["sku"]))
    reached = prog.reached(known.balance)
    return {"customer": customer, "profile": None if profile is None else profile.code,
            **known.as_dict(), "level": None if reached is None else reached.code,
            "gifts": gifts}


def gifts_for(store: LocalStore, customer_id: str, taken: str | None = None) -> dict[str, Any]:
    """``GET /pos/v1/customers/{id}/gifts``: :func:`customer_gifts` of the customer (an
    old, merged id finds the survivor); UnknownCustomer if the store does not hold it."""
    with store.read() as conn:
        customer = customer_for_sale(conn, customer_id)
        if customer is None:
            raise UnknownCustomer(f"no customer {customer_id}")
        return customer_gifts(conn, customer, taken)


def gifts_view(store: LocalStore) -> dict[str, Any]:
    """The levels and every gift with its level, the points it costs, its product's name and
    price and its points value under the default profile (cheapest first)."""
    with store.read() as conn:
        prog = programme_in(conn)
        default = next((p for p in profiles_in(conn) if p.default), None)
        names = {r["sku"]: (r["name"], r["sale_price"]) for r in conn.execute(
            "SELECT p.sku, p.name, p.sale_price FROM products p "
            "JOIN loyalty_gifts g ON g.sku = p.sku")}
        values = {} if default is None else {r["sku"]: r["points"] for r in conn.execute(
            "SELECT sku, points FROM points_values WHERE profile = ?", (default.code,))}
    gifts = []
    for gift in prog.gifts:
        name, price = names.get(gift.sku, (None, None))
        gifts.append({"sku": gift.sku, "name": name, "sale_price": price,
                      "level": gift.level, "points": str(prog.cost(gift)),
                      "points_value": values.get(gift.sku)})
    gifts.sort(key=lambda g: (Decimal(g["points"]), g["sku"]))
    return {"profile": None if default is None else default.code,
            "levels": [{"code": lv.code, "name": lv.name, "points": str(lv.points)}
                       for lv in sorted(prog.levels, key=lambda lv: lv.points)],
            "gifts": gifts}


# -- the loyalty side of a sale ---------------------------------------------------------------

def facts_from(catalogue: Mapping[str, Product]) -> dict[str, LineFacts]:
    """Accrual's facts of each product by SKU, from the pricing engine's products (its
    categories with their ancestors and its brand, as ``rules.context`` builds them).
    and its "points generated"), as central reads them from its catalogue."""
    return {p.sku: LineFacts(p.categories, p.brand, p.points_generated)
            for p in catalogue.values()}


def provisional_points(sale_uuid: str, lines: Sequence[Mapping[str, Any]],
                       facts: Mapping[str, LineFacts], gift_lines: Sequence[int],
                       policy: AccrualPolicy) -> Accrual:
    """The points the store prints for a sale body's ``lines`` (central recomputes them)."""
    return accrue(sale_for_accrual(sale_uuid, lines, lambda sku: facts.get(sku, LineFacts()),
                                   gift_lines), policy)


def check_gift_lines(request_lines: Sequence[Mapping[str, Any]]) -> list[int]:
    """The indexes of the request's gift lines; refuses what no sale could take: a gift
    of more than one unit, a second gift."""
    gifts = [i for i, line in enumerate(request_lines) if line.get("gift")]
    for i in gifts:
        if Decimal(request_lines[i]["qty"]) != 1:
            raise GiftNotAllowed(f"lines.{i}.qty", "a gift line is one unit")
    if len(gifts) > MAX_GIFTS_PER_SALE:
        raise GiftNotAllowed(f"lines.{gifts[MAX_GIFTS_PER_SALE]}.gift",
                             f"only one gift per sale: line {gifts[0]} is already a gift")
    return gifts


def sale_loyalty(conn: sqlite3.Connection, customer: str | None,
                 profile: LoyaltyProfile | None, sale_uuid: str,
                 lines: Sequence[Mapping[str, Any]], catalogue: Mapping[str, Product],
                 gift_lines: Sequence[int]) -> dict[str, Any] | None:
    """The sale body's ``loyalty``: the customer's profile (``customer_profile`` of their
    record, as the sale was priced with it) and version, the provisional points, the gift
    taken and its points, and the balance the receipt prints; None when the sale names no
    customer with a profile here. A gift the customer cannot take raises
    :class:`GiftNotAllowed` naming its line."""
    if customer is None:
        if gift_lines:
            raise GiftNotAllowed("customer", "a gift needs the customer attached to the sale")
        return None
    if profile is None or not isinstance(profile.accrual, AccrualPolicy):
        if gift_lines:
            raise GiftNotAllowed(f"lines.{gift_lines[0]}.gift",
                                 "this store holds no loyalty profile for the customer")
        return None
    prog = programme_in(conn)
    known = standing(conn, customer)
    gifts: list[dict[str, Any]] = []
    spent = ZERO
    for i in gift_lines:
        sku = str(lines[i]["sku"])
        try:
            gift = prog.gift(sku)
        except GiftRefused as exc:
            raise GiftNotAllowed(f"lines.{i}.gift", f"{sku}: {exc.reason}") from exc
        reason = gift_refusal(prog, gift, known, product_known=True, taken=None)
        if reason is not None:
            raise GiftNotAllowed(f"lines.{i}.gift", f"gift {sku} refused: {reason}")
        gifts.append({"line": i, "points": str(prog.cost(gift))})
        spent += prog.cost(gift)
    accrual = provisional_points(sale_uuid, lines, facts_from(catalogue), gift_lines,
                                 profile.accrual)
    earned = accrual.total if accrual.books_balance else ZERO
    return {"profile": profile.code, "profile_version": profile.version,
            "points": str(accrual.total), "gifts": gifts,
            "balance": str(known.provisional - spent + earned)}
