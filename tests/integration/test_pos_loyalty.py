"""Loyalty at the till (/pos/v1): provisional points on the sale and its receipt, the
customer's gifts with why not, taking a gift, and the offline allowance (docs/protocol.md)."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from protocol import messages
from store_agent.pos.api import create_app
from store_agent.sqlite_store import LocalStore
from store_agent.sync.replica import Replica

pytestmark = pytest.mark.integration

NOW = dt.datetime(2026, 11, 22, 9, 30, tzinfo=dt.UTC)
STORE = "kiosk-1"
ADA = "11111111-1111-4111-8111-111111111111"
BOB = "22222222-2222-4222-8222-222222222222"
ACCRUAL = {"threshold": "1", "step": "1", "points_per_step": "1", "apply_grid": True,
           "grid": [{"points_per_euro": "1", "category": "food", "brand": None}]}


def product(sku: str, price: str, category: str | None = None) -> dict[str, Any]:
    return {"sku": sku, "name": sku.title(), "category": category, "brand": None,
            "vat_rate": "10.00", "sale_price": price, "active": True, "barcodes": []}


def profile(code: str, version: int, default: bool, accrual: dict[str, Any]) -> dict[str, Any]:
    return {"code": code, "description": code, "default": default, "card_prefix": "29",
            "alternative_prefixes": [], "ean_prefix": None, "discount_percent": "0",
            "version": version, "accrual": accrual, "redemption": {}}


class Central:
    """Central's streams as the store receives them, versions in order."""

    def __init__(self, store: LocalStore) -> None:
        self.replica = Replica(store)
        self.versions: dict[str, int] = {}

    def send(self, stream: str, *items: tuple[str, str, dict[str, Any] | None]) -> None:
        changes = []
        for entity, key, data in items:
            self.versions[stream] = self.versions.get(stream, 0) + 1
            changes.append({"version": self.versions[stream], "entity": entity, "key": key,
                            "op": "delete" if data is None else "upsert", "data": data})
        self.replica.apply(messages.parse(messages.envelope(
            "changes", stream=stream, log_epoch="e1", changes=changes)))

    def balance(self, customer: str, points: str) -> None:
        self.send("customers", ("points_balance", customer, {
            "customer": customer, "points": points, "updated_at": NOW.isoformat()}))


@pytest.fixture
def store(tmp_path: Path) -> LocalStore:
    return LocalStore(tmp_path / "agent.db")


@pytest.fixture
def central(store: LocalStore) -> Central:
    central = Central(store)
    central.send("catalog",
                 ("category", "food", {"code": "food", "name": "Food", "parent": None,
                                       "active": True}),
                 ("category", "bakery", {"code": "bakery", "name": "Bakery",
                                         "parent": "food", "active": True}),
                 ("product", "bread", product("bread", "2.50", "bakery")),
                 ("product", "wine", product("wine", "12.00")),
                 ("product", "mug", product("mug", "6.00")),
                 ("product", "vase", product("vase", "30.00")))
    central.send("loyalty",
                 ("loyalty_profile", "BASE", profile("BASE", 3, True, ACCRUAL)),
                 ("loyalty_profile", "GOLD", profile("GOLD", 1, False, {
                     "threshold": "1", "step": "1", "points_per_step": "2"})),
                 ("loyalty_level", "L1", {"code": "L1", "name": "Bronze", "points": "10"}),
                 ("loyalty_level", "L2", {"code": "L2", "name": "Silver", "points": "50"}),
                 ("loyalty_gift", "mug", {"sku": "mug", "level": "L1", "points": None,
                                          "level_points": "10"}),
                 ("loyalty_gift", "vase", {"sku": "vase", "level": "L2", "points": "45",
                                           "level_points": "50"}),
                 ("loyalty_gift", "ghost", {"sku": "ghost", "level": "L1", "points": None,
                                            "level_points": "10"}))
    central.send("customers",
                 ("customer", ADA, {"id": ADA, "last_name": "Ada", "profile": None,
                                    "extra": {}, "stamps": {}}),
                 ("customer", BOB, {"id": BOB, "last_name": "Bob", "profile": "GOLD",
                                    "extra": {}, "stamps": {}}))
    central.balance(ADA, "30")
    return central


@pytest.fixture
def client(store: LocalStore, central: Central) -> FlaskClient:
    return create_app(store, Replica(store), STORE, lambda: {}, clock=lambda: NOW).test_client()


def sell(client: FlaskClient, lines: list[dict[str, Any]], **extra: Any) -> Any:
    return client.post("/pos/v1/sales", json={"uuid": str(uuid.uuid4()), "lines": lines,
                                              **extra})


def outbox(store: LocalStore) -> list[dict[str, Any]]:
    with store.read() as conn:
        return [json.loads(r[0]) for r in conn.execute(
            "SELECT body FROM outbox WHERE kind = 'sale' ORDER BY seq")]


def gifts(client: FlaskClient, customer: str = ADA, **query: str) -> dict[str, Any]:
    answer = client.get(f"/pos/v1/customers/{customer}/gifts", query_string=query)
    assert answer.status_code == 200, answer.get_json()
    body: dict[str, Any] = answer.get_json()
    return body


def test_a_sale_to_a_customer_carries_its_points_to_the_answer_the_receipt_and_central(
        client: FlaskClient, store: LocalStore) -> None:
    # 2 x bread 5.00 + wine 12.00 = 17 points a euro; bread is bakery, under food: the
    # grid's food entry gives 5 more (categories with their ancestors, as pricing has them).
    sold = sell(client, [{"code": "bread", "qty": "2"}, {"code": "wine"}], customer=ADA)
    assert sold.status_code == 201, sold.get_json()
    side = sold.get_json()["loyalty"]
    assert side == {"profile": "BASE", "profile_version": 3, "points": "22", "gifts": [],
                    "balance": "52"}
    assert outbox(store)[0]["loyalty"] == side
    receipt = client.get(f"/pos/v1/sales/{sold.get_json()['uuid']}/receipt").get_json()
    assert "Points earned: 22" in receipt["text"]
    assert "Points balance: 52" in receipt["text"]
    # The customer's own profile, else the default; a sale without customer has none.
    bob = sell(client, [{"code": "wine"}], customer=BOB).get_json()["loyalty"]
    assert (bob["profile"], bob["points"], bob["balance"]) == ("GOLD", "24", "24")
    assert "loyalty" not in sell(client, [{"code": "wine"}]).get_json()
    # The basket answer says the same before the sale.
    priced = client.post("/pos/v1/baskets/price", json={
        "lines": [{"code": "bread", "qty": "2"}, {"code": "wine"}], "customer": ADA})
    assert priced.get_json()["loyalty"]["points"] == "22"


def test_the_customers_gifts_say_what_can_be_taken_now_and_why_not(
        client: FlaskClient) -> None:
    view = gifts(client)
    assert (view["balance"], view["may_spend"], view["level"], view["profile"]) == (
        "30", "30", "L1", "BASE")
    assert [(g["sku"], g["points"], g["can_take"]) for g in view["gifts"]] == [
        ("ghost", "10", False), ("mug", "10", True), ("vase", "45", False)]
    reasons = {g["sku"]: g["reason"] for g in view["gifts"]}
    assert reasons["mug"] is None
    assert "not sold at this store" in reasons["ghost"]
    assert reasons["vase"].startswith("level L2 not reached")
    taken = gifts(client, taken="mug")
    assert all(not g["can_take"] and "only one gift per sale" in g["reason"]
               for g in taken["gifts"] if g["sku"] != "ghost")
    # A customer without a balance: nothing to spend; an unknown customer: 404.
    poor = {g["sku"]: g["reason"] for g in gifts(client, BOB)["gifts"]}
    assert poor["mug"].startswith("level L1 not reached")
    assert client.get(f"/pos/v1/customers/{uuid.uuid4()}/gifts").status_code == 404


def test_a_gift_is_priced_at_zero_spends_its_points_and_earns_nothing(
        client: FlaskClient, store: LocalStore) -> None:
    sold = sell(client, [{"code": "wine"}, {"code": "mug", "gift": True}], customer=ADA)
    assert sold.status_code == 201, sold.get_json()
    body = sold.get_json()
    mug = body["lines"][1]
    assert (mug["sku"], mug["amount"], mug["gross"], mug["gift"]) == ("mug", "0.00", "6.00",
                                                                       True)
    assert mug["adjustments"][0]["kind"] == "gift"
    assert body["total"] == "12.00"
    assert body["loyalty"]["points"] == "12"  # the wine only
    assert body["loyalty"]["gifts"] == [{"line": 1, "points": "10"}]
    assert body["loyalty"]["balance"] == "32"  # 30 - 10 + 12
    assert outbox(store)[0]["loyalty"]["gifts"] == [{"line": 1, "points": "10"}]
    text = "\n".join(client.get(f"/pos/v1/sales/{body['uuid']}/receipt").get_json()["text"])
    assert "Points spent: 10" in text and "loyalty gift (10 points)" in text
    view = gifts(client)
    assert (view["pending_spent"], view["pending_earned"], view["may_spend"]) == (
        "10", "12", "20")


@pytest.mark.parametrize(("lines", "extra", "field"), [
    ([{"code": "mug", "gift": True}, {"code": "mug", "gift": True}], {"customer": ADA},
     ["lines", "1", "gift"]),
    ([{"code": "mug", "gift": True}], {}, ["customer"]),
    ([{"code": "mug", "qty": "2", "gift": True}], {"customer": ADA}, ["lines", "0", "qty"]),
    ([{"code": "wine", "gift": True}], {"customer": ADA}, ["lines", "0", "gift"]),
    ([{"code": "bread"}, {"code": "vase", "gift": True}], {"customer": ADA},
     ["lines", "1", "gift"]),
])
def test_a_gift_the_sale_cannot_take_is_a_422_naming_the_field_and_nothing_is_kept(
        client: FlaskClient, store: LocalStore, lines: list[dict[str, Any]],
        extra: dict[str, Any], field: list[str]) -> None:
    refused = sell(client, lines, **extra)
    assert refused.status_code == 422, refused.get_json()
    errors = refused.get_json()["errors"]
    for part in field:
        errors = errors[part]
    assert errors and errors[0] == refused.get_json()["message"]
    assert outbox(store) == []


def test_offline_a_store_spends_the_last_balance_less_its_own_unacknowledged_spends(
        client: FlaskClient, store: LocalStore, central: Central) -> None:
    for _ in range(3):  # 30 points: three mugs of 10, offline
        assert sell(client, [{"code": "mug", "gift": True}],
                    customer=ADA).status_code == 201
    fourth = sell(client, [{"code": "bread", "qty": "20"}, {"code": "mug", "gift": True}],
                  customer=ADA)
    assert fourth.status_code == 422
    assert "may spend 0 now" in fourth.get_json()["message"]
    assert gifts(client)["may_spend"] == "0"
    # Central acknowledges the sales (they leave the outbox) and books them: its balance 0.
    with store.write() as conn:
        conn.execute("DELETE FROM outbox")
    central.balance(ADA, "0")
    assert gifts(client)["may_spend"] == "0"
    # Another store's offline spending made the customer negative at central: nothing to
    # spend here, never below 0; earning goes on.
    central.balance(ADA, "-10")
    assert gifts(client)["may_spend"] == "0"
    earned = sell(client, [{"code": "wine"}], customer=ADA).get_json()["loyalty"]
    assert (earned["points"], earned["balance"]) == ("12", "2")
    central.balance(ADA, "15")
    assert sell(client, [{"code": "mug", "gift": True}], customer=ADA).status_code == 201


def test_a_merged_customers_old_id_spends_the_survivors_balance(
        client: FlaskClient, store: LocalStore, central: Central) -> None:
    central.balance(BOB, "99")
    # Head office merges Bob into Ada: the redirect, Bob's record and balance deleted.
    central.send("customers", ("customer_redirect", BOB, {"old": BOB, "survivor": ADA}),
                 ("customer", BOB, None), ("points_balance", BOB, None))
    view = gifts(client, BOB)
    assert (view["customer"], view["balance"]) == (ADA, "30")
    sold = sell(client, [{"code": "mug", "gift": True}], customer=BOB).get_json()
    assert (sold["customer"], sold["loyalty"]["balance"]) == (ADA, "20")
    with store.read() as conn:
        assert [r[0] for r in conn.execute("SELECT customer FROM points_balances")] == [ADA]


def test_a_club_member_gets_the_profiles_discount_on_bread_not_on_cigarettes(
        client: FlaskClient, store: LocalStore, central: Central) -> None:
    carla = "33333333-3333-4333-8333-333333333333"
    club = {**profile("CLUB", 2, False, {"threshold": "1", "step": "1",
                                         "points_per_step": "1"}),
            "card_prefix": "2990", "discount_percent": "5"}
    central.send("catalog",
                 ("category", "tobacco", {"code": "tobacco", "name": "Tobacco",
                                          "parent": None, "active": True}),
                 ("product", "cig", product("cig", "5.50", "tobacco")))
    central.send("policies", ("policy", "no-tobacco", {
        "code": "no-tobacco", "kind": "exclusion", "name": "No tobacco", "version": 1,
        "active": True, "stores": [], "groups": [], "period": {"start": None, "end": None},
        "target": {"kind": "category", "codes": ["tobacco"]}}))
    central.send("loyalty", ("loyalty_profile", "CLUB", club))
    central.send("customers", ("customer", carla, {"id": carla, "last_name": "Carla",
                                                   "profile": "CLUB", "extra": {},
                                                   "stamps": {}}))
    lines = [{"code": "bread", "qty": "2"}, {"code": "cig"}]
    priced = client.post("/pos/v1/baskets/price", json={"lines": lines, "customer": carla})
    assert priced.status_code == 200, priced.get_json()
    sold = sell(client, lines, customer=carla)
    assert sold.status_code == 201, sold.get_json()
    body = sold.get_json()
    bread, cig = body["lines"]
    # 2 x 2.50 = 5.00, the Club's 5% = 0.25; the cigarettes are excluded: 5.50 as priced.
    assert (bread["amount"], bread["adjustments"]) == ("4.75", [
        {"kind": "profile", "code": "CLUB", "version": 2, "amount": "0.25",
         "reason": "5% loyalty profile CLUB"}])
    assert (cig["amount"], cig["excluded_by"], cig["adjustments"]) == (
        "5.50", "no-tobacco", [])
    assert (body["total"], body["discount"]) == ("10.25", "0.25")
    assert body["versions"]["profile:CLUB"] == 2
    assert body["loyalty"]["profile"] == "CLUB" and body["loyalty"]["profile_version"] == 2
    assert priced.get_json()["lines"] == body["lines"]
    # The customer display shows the same prices as the till.
    shown = client.put("/pos/v1/display/basket", json={"lines": lines, "customer": carla})
    assert shown.status_code == 200, shown.get_json()
    assert (shown.get_json()["total"], shown.get_json()["discount"]) == ("10.25", "0.25")
    # Priced with ``display``, the basket shows on that till's display without a PUT.
    again = client.post("/pos/v1/baskets/price", json={"lines": lines, "customer": carla,
                                                       "display": "2"})
    assert again.get_json()["lines"] == body["lines"]
    view = client.get("/pos/v1/display/basket", query_string={"till": "2"}).get_json()
    assert (view["state"], view["total"], view["discount"]) == ("open", "10.25", "0.25")
    assert [(line["name"], line["amount"]) for line in view["lines"]] == [
        (line["name"], line["amount"]) for line in body["lines"]]
    refused = client.post("/pos/v1/baskets/price", json={"lines": lines, "display": "../x"})
    assert refused.status_code == 422 and "display" in refused.get_json()["errors"]
    assert client.get("/pos/v1/display/basket", query_string={"till": "1"}).get_json()[
        "total"] == "10.25"  # till 1 still shows what its PUT showed
    assert outbox(store)[0]["total"] == "10.25"
    text = "\n".join(client.get(f"/pos/v1/sales/{body['uuid']}/receipt").get_json()["text"])
    assert "5% loyalty profile CLUB" in text and "-0.25" in text
    # The default profile has no discount level: Ada pays the full price for her bread.
    ada = sell(client, [{"code": "bread", "qty": "2"}], customer=ADA).get_json()
    assert (ada["total"], ada["lines"][0]["adjustments"]) == ("5.00", [])
