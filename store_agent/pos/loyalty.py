"""The store's copy of the loyalty programme (``loyalty`` bucket): profiles, levels, gifts
and points values, read from the agent's tables as ``rules`` objects and till views.

The per-customer view (``GET /pos/v1/customers/{id}/gifts``: the balance, every gift and
whether it can be taken now) needs the customers and their balances at the store, which
come with the customers feature; until then the till lists the programme's gifts.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from protocol.loyalty import accrual_from_wire, redemption_from_wire
from rules.cards import LoyaltyProfile
from rules.loyalty.levels import Gift, Level, Programme
from store_agent.sqlite_store import LocalStore


def profiles(store: LocalStore) -> list[LoyaltyProfile]:
    """Every profile, with its accrual and redemption options, at the version central sent."""
    with store.read() as conn:
        rows = conn.execute("SELECT data FROM loyalty_profiles ORDER BY code").fetchall()
    result = []
    for (data,) in rows:
        body = json.loads(data)
        result.append(LoyaltyProfile(
            body["code"], body["description"], body["card_prefix"],
            tuple(body.get("alternative_prefixes") or ()), body.get("ean_prefix"),
            bool(body["default"]), Decimal(body["discount_percent"]), int(body["version"]),
            accrual_from_wire(body["accrual"]), redemption_from_wire(body["redemption"])))
    return result


def programme(store: LocalStore) -> Programme:
    with store.read() as conn:
        levels = tuple(Level(r["code"], Decimal(r["points"]), r["name"]) for r in conn.execute(
            "SELECT code, name, points FROM loyalty_levels"))
        gifts = tuple(Gift(r["sku"], r["level"],
                           None if r["points"] is None else Decimal(r["points"]))
                      for r in conn.execute("SELECT sku, level, points FROM loyalty_gifts"))
    return Programme(levels, gifts)


def gifts_view(store: LocalStore) -> dict[str, Any]:
    """The levels and every gift with its level, the points it costs, its product's name and
    price and its points value under the default profile (cheapest first)."""
    prog = programme(store)
    default = next((p for p in profiles(store) if p.default), None)
    with store.read() as conn:
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
