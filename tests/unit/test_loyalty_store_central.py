"""Issue 16's property: the store and central compute the same points for the same sale and
policy version. The store's side is its checkout path (``till.record_sale`` over its SQLite
copy: pricing, gift lines, ``loyalty`` in the body); central's is
``points_ledger.sale_entries`` on the body as central reads it, with the catalogue facts
central knows (built here from the same wire records, not from the store's tables)."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from central.services.points_ledger import GiftSpend, sale_entries
from protocol import messages
from protocol.loyalty import LineFacts, accrual_from_wire, sale_for_accrual
from rules.context import ancestors
from store_agent.pos.till import record_sale
from store_agent.sqlite_store import LocalStore
from store_agent.sync.replica import Replica

NOW = dt.datetime(2026, 11, 22, 9, 30, tzinfo=dt.UTC)
STORE = "kiosk-1"
ADA = "11111111-1111-4111-8111-111111111111"
CATEGORIES = {"food": None, "bakery": "food", "drinks": None, "tobacco": None}
PRODUCTS = {  # sku: (price, category, brand)
    "bread": ("2.35", "bakery", None), "cake": ("14.90", "bakery", "acme"),
    "cola": ("1.99", "drinks", "acme"), "wine": ("12.00", "drinks", None),
    "cigars": ("9.50", "tobacco", None), "mug": ("6.00", None, "acme"),
}


def _wire_product(sku: str) -> dict[str, Any]:
    price, category, brand = PRODUCTS[sku]
    return {"sku": sku, "name": sku.title(), "category": category, "brand": brand,
            "vat_rate": "10.00", "sale_price": price, "active": True, "barcodes": []}


def central_facts(sku: str) -> LineFacts:
    """What central knows of a product, from the wire records it sent."""
    _price, category, brand = PRODUCTS[sku]
    return LineFacts(ancestors(category, CATEGORIES), brand)


class Copy:
    """The store's copy, fed as central's streams would feed it."""

    def __init__(self, path: Path) -> None:
        self.store = LocalStore(path)
        self.replica = Replica(self.store)
        self.versions: dict[str, int] = {}
        self.profile_version = 0

    def send(self, stream: str, *items: tuple[str, str, dict[str, Any]]) -> None:
        changes = []
        for entity, key, data in items:
            self.versions[stream] = self.versions.get(stream, 0) + 1
            changes.append({"version": self.versions[stream], "entity": entity, "key": key,
                            "op": "upsert", "data": data})
        self.replica.apply(messages.parse(messages.envelope(
            "changes", stream=stream, log_epoch="e1", changes=changes)))

    def profile(self, accrual: dict[str, Any]) -> int:
        self.profile_version += 1
        self.send("loyalty", ("loyalty_profile", "BASE", {
            "code": "BASE", "description": "Base", "default": True, "card_prefix": "29",
            "alternative_prefixes": [], "ean_prefix": None, "discount_percent": "0",
            "version": self.profile_version, "accrual": accrual, "redemption": {}}))
        return self.profile_version


@pytest.fixture(scope="module")
def copy(tmp_path_factory: pytest.TempPathFactory) -> Copy:
    copy = Copy(tmp_path_factory.mktemp("store") / "agent.db")
    copy.send("catalog", *[("category", code, {"code": code, "name": code, "parent": parent,
                                               "active": True})
                           for code, parent in CATEGORIES.items()],
              *[("product", sku, _wire_product(sku)) for sku in PRODUCTS])
    copy.send("policies",
              ("policy", "drinks-30", {"code": "drinks-30", "kind": "sales_rule",
                                       "name": "Drinks -30%", "version": 1, "percent": "30",
                                       "target": {"kind": "category", "codes": ["drinks"]}}),
              ("policy", "no-tobacco", {"code": "no-tobacco", "kind": "exclusion",
                                        "name": "Tobacco", "version": 1,
                                        "target": {"kind": "category",
                                                   "codes": ["tobacco"]}}))
    copy.send("loyalty",
              ("loyalty_level", "L1", {"code": "L1", "name": "One", "points": "10"}),
              ("loyalty_gift", "mug", {"sku": "mug", "level": "L1", "points": "15",
                                       "level_points": "10"}))
    copy.send("customers",
              ("customer", ADA, {"id": ADA, "last_name": "Ada", "extra": {}, "stamps": {}}),
              ("points_balance", ADA, {"customer": ADA, "points": "1000000",
                                       "updated_at": NOW.isoformat()}))
    return copy


@st.composite
def accruals(draw: st.DrawFn) -> dict[str, Any]:
    whole = draw(st.booleans())
    wire: dict[str, Any] = {
        "threshold": draw(st.sampled_from(["1", "5", "10"])),
        "step": draw(st.sampled_from(["1", "2.50", "5"])),
        "points_per_step": draw(st.sampled_from(["1", "2"] if whole else ["1", "0.5"])),
        "whole_points_only": whole,
        "exclude_offers": draw(st.booleans()),
        "earning_exclusions": draw(st.sampled_from([[], ["no-tobacco"]])),
    }
    if draw(st.booleans()):
        wire.update(bonus_threshold="25", bonus_points="5")
    if not whole and draw(st.booleans()):
        wire["fractional_threshold"] = "0.50"
    if draw(st.booleans()):
        wire["max_discount_percent"] = draw(st.sampled_from(["0", "20", "50"]))
    if draw(st.booleans()):
        wire.update(apply_grid=True, grid=[
            {"points_per_euro": "1", "category": "food", "brand": None},
            {"points_per_euro": "0.5", "category": None, "brand": "acme"},
            {"points_per_euro": "2", "category": "bakery", "brand": "acme"}])
    return wire


BASKETS = st.lists(st.tuples(st.sampled_from(sorted(PRODUCTS)), st.integers(1, 4)),
                   min_size=1, max_size=6)


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(accrual=accruals(), basket=BASKETS, gift_at=st.none() | st.integers(0, 6))
def test_store_and_central_compute_the_same_points_for_the_same_sale_and_version(
        copy: Copy, accrual: dict[str, Any], basket: list[tuple[str, int]],
        gift_at: int | None) -> None:
    version = copy.profile(accrual)
    lines: list[dict[str, Any]] = [{"code": sku, "qty": str(qty)} for sku, qty in basket]
    if gift_at is not None:
        lines.insert(min(gift_at, len(lines)), {"code": "mug", "qty": "1", "gift": True})
    sale_uuid = str(uuid.uuid4())
    body = record_sale(copy.store, STORE, {"uuid": sale_uuid, "lines": lines,
                                           "customer": ADA}, NOW).sale

    read = messages.parse_sale(body)  # the body as central ingests it
    side = read["loyalty"]
    assert (side["profile"], side["profile_version"]) == ("BASE", version)
    gifts = [GiftSpend(g["line"], g["points"]) for g in side["gifts"]]
    sale = sale_for_accrual(str(read["uuid"]), read["lines"], central_facts,
                            [g.line for g in gifts])
    entries = sale_entries(ADA, str(read["uuid"]), read["store"], sale.lines, read["created_at"],
                           accrual_from_wire(accrual), side["profile_version"], gifts)
    earned = sum((e.points for e in entries if e.kind == "earn"), Decimal(0))
    assert earned == side["points"]
    assert [(e.line, -e.points) for e in entries if e.kind == "spend"] == [
        (g.line, g.points) for g in gifts]
    assert len(gifts) == (gift_at is not None)
    assert all(e.line not in {g.line for g in gifts} for e in entries if e.kind == "earn")
