"""The customer registry end to end, with real processes: two stores create the same person
while the broker is down, both sell to them, central holds both, head office merges them,
and both stores find the survivor by either card and by the old ids."""

from __future__ import annotations

from typing import Any

import pytest

from rules.cards import loyalty_card_number
from tests.e2e.harness import SYNC, Agent, Network, ean13, expect
from tests.support import free_port

pytestmark = pytest.mark.e2e

MOBILE = "+393471112233"
CARD_X, CARD_Y = loyalty_card_number("299", 7), loyalty_card_number("299", 8)


def found(agent: Agent, **query: str) -> list[str]:
    answer = agent.http.get("/pos/v1/customers", params=query)
    if answer.status_code != 200:
        return []
    return [c["id"] for c in answer.json()["customers"]]


def recalled(agent: Agent, customer_id: str) -> str | None:
    answer = agent.http.get(f"/pos/v1/customers/{customer_id}")
    return str(answer.json()["id"]) if answer.status_code == 200 else None


def at_central(net: Network, customer_id: str) -> dict[str, Any] | None:
    answer = net.central.get(f"/api/v1/customers/{customer_id}")
    return answer.json() if answer.status_code == 200 else None


def test_customers_made_offline_at_two_stores_are_merged_and_found_everywhere(
        network: Network) -> None:
    network.start_central()
    store_a, store_b = network.add_agent("kiosk-1"), network.add_agent("market")
    for agent in (store_a, store_b):
        agent.env["TESSERA_STORE_COUNTRY"] = "IT"  # phones typed without +39
        agent.start()
        network.wait_agent_ready(agent)
    network.create_product("BREAD", ean13(1), "2.10")
    network.wait(lambda: all(a.status()["products"] == 1 for a in (store_a, store_b)), SYNC,
                 "the catalogue at both stores")

    network.broker.kill()
    network.wait(lambda: not any(a.status()["broker_connected"] for a in (store_a, store_b)),
                 SYNC, "both stores noticing the broker is gone")
    made_a = expect(store_a.http.post("/pos/v1/customers", {
        "fields": {"first_name": "Anna", "last_name": "Rossi", "mobile": MOBILE},
        "cards": [CARD_X]}), 201)
    made_b = expect(store_b.http.post("/pos/v1/customers", {
        "fields": {"first_name": "Anna", "last_name": "Rossi", "mobile": "347 111 2233",
                   "email": "anna@example.com"}, "cards": [CARD_Y]}), 201)
    id_a, id_b = made_a["id"], made_b["id"]
    assert id_a != id_b and made_b["mobile"] == MOBILE
    assert found(store_a, card=CARD_X) == [id_a]  # offline, from the store's own copy
    sale_a = expect(store_a.sell([(ean13(1), "1")], customer=id_a), 201)
    sale_b = expect(store_b.sell([(ean13(1), "2")], customer=id_b), 201)
    assert (sale_a["customer"], sale_b["customer"]) == (id_a, id_b)

    network.broker.start()
    for agent in (store_a, store_b):
        network.wait_agent_ready(agent)
        network.wait_outbox_drained(agent, sales=2)  # the customer, then the sale
    network.wait(lambda: (at_central(network, id_a) or {}).get("customer", {}).get("visits")
                 == 1 and (at_central(network, id_b) or {}).get("customer", {})
                 .get("visits") == 1, SYNC, "both customers and their sales at central")

    pairs = expect(network.central.get("/api/v1/customers/duplicates"), 200)
    assert any({p["a"], p["b"]} == {id_a, id_b} for p in pairs), pairs
    merged = expect(network.central.post("/api/v1/customers/merge", {"a": id_a, "b": id_b}),
                    200)
    survivor = merged["id"]
    assert survivor in (id_a, id_b)
    assert {c["number"] for c in merged["cards"] if c["active"]} == {CARD_X, CARD_Y}
    assert merged["customer"]["visits"] == 2
    assert (merged["customer"]["total_spend"], merged["customer"]["average_basket"]) == (
        "6.30", "3.15")
    exported = expect(network.central.get(f"/api/v1/customers/{survivor}/export"), 200)
    assert sorted((s["sale"], s["total"]) for s in exported["sales"]) == sorted(
        [(sale_a["uuid"], "2.10"), (sale_b["uuid"], "4.20")])
    [loser] = {id_a, id_b} - {survivor}
    assert exported["merged_from"] == [loser]
    assert [m["by"] for m in exported["audit"]] == ["e2e-admin"]
    assert (at_central(network, loser) or {}).get("id") == survivor
    assert not any({p["a"], p["b"]} == {id_a, id_b}
                   for p in expect(network.central.get("/api/v1/customers/duplicates"), 200))

    for agent in (store_a, store_b):
        network.wait(lambda agent=agent: found(agent, card=CARD_X) == [survivor]
                     and found(agent, card=CARD_Y) == [survivor]
                     and recalled(agent, id_a) == survivor
                     and recalled(agent, id_b) == survivor, SYNC,
                     f"{agent.name} finding the survivor by both cards and both old ids")
        network.wait(lambda agent=agent: (lambda c: (c["visits"], c["total_spend"]))(
            agent.http.get(f"/pos/v1/customers/{survivor}").json()) == (2, "6.30"), SYNC,
            f"{agent.name} holding the survivor's aggregates")
    sold = expect(store_a.sell([(ean13(1), "1")], customer=loser), 201)
    assert sold["customer"] == survivor


def personal(record: dict[str, Any]) -> dict[str, Any]:
    """The personal fields of a record (wire form) that hold something."""
    names = ("first_name", "last_name", "email", "mobile", "city", "observation")
    return {k: record.get(k) for k in names if record.get(k)} | (
        {"extra": record["extra"]} if record.get("extra") else {})


def test_an_erased_customer_is_anonymised_everywhere_and_an_offline_store_brings_nothing_back(
        network: Network) -> None:
    network.start_central()
    store_a, store_b = network.add_agent("kiosk-1"), network.add_agent("market")
    for agent in (store_a, store_b):
        agent.env["TESSERA_STORE_COUNTRY"] = "IT"
        agent.start()
        network.wait_agent_ready(agent)
    network.create_product("BREAD", ean13(1), "2.10")
    network.wait(lambda: all(a.status()["products"] == 1 for a in (store_a, store_b)), SYNC,
                 "the catalogue at both stores")

    made = expect(store_a.http.post("/pos/v1/customers", {
        "fields": {"first_name": "Anna", "last_name": "Rossi", "mobile": MOBILE,
                   "email": "anna@example.com"}, "cards": [CARD_X]}), 201)
    anna = made["id"]
    sale = expect(store_a.sell([(ean13(1), "2")], customer=anna), 201)
    network.wait_outbox_drained(store_a, sales=2)
    network.wait(lambda: recalled(store_b, anna) == anna, SYNC, "Anna in market's copy")

    # market loses its broker link (restarted against a port where nothing listens) and
    # edits Anna there, offline, before head office erases her.
    store_b.stop()
    store_b.env["TESSERA_BROKER_URL"] = f"mqtt://127.0.0.1:{free_port()}"
    store_b.start()
    network.wait(lambda: store_b.http.get("/pos/v1/status", timeout=1).status_code == 200,
                 SYNC, "market up without its broker")
    assert not store_b.status()["broker_connected"]
    edited = expect(store_b.http.patch(f"/pos/v1/customers/{anna}", {
        "fields": {"first_name": "Annie", "city": "Milano", "email": "annie@example.com"},
        "cards": [CARD_Y]}), 200)
    assert edited["city"] == "Milano" and store_b.status()["outbox_pending"] == 1

    erased = expect(network.central.post(f"/api/v1/customers/{anna}/erase"), 200)
    assert erased["customer"]["erased"] is True
    assert personal(erased["customer"]) == {}
    assert not any(c["active"] for c in erased["cards"])
    assert erased["customer"]["total_spend"] == "4.20"

    def anonymised(agent: Agent) -> bool:
        answer = agent.http.get(f"/pos/v1/customers/{anna}")
        record = answer.json() if answer.status_code == 200 else None
        return record is None or (record["erased"] and personal(record) == {}
                                  and not any(c["active"] for c in record["cards"]))

    def not_found(agent: Agent) -> bool:
        return all(expect(agent.http.get("/pos/v1/customers", params=query), 200)[
            "customers"] == [] for query in (
            {"card": CARD_X}, {"card": CARD_Y}, {"mobile": MOBILE},
            {"email": "anna@example.com"}, {"email": "annie@example.com"},
            {"name": "Rossi"}, {"name": "Annie"}, {"q": CARD_X}))

    network.wait(lambda: anonymised(store_a), SYNC, "kiosk-1's copy of Anna anonymised")
    assert not_found(store_a)

    # market comes back: its older edit reaches central, which keeps none of it.
    store_b.stop()
    store_b.env["TESSERA_BROKER_URL"] = network.broker.url
    network.restart_agent(store_b)
    network.wait(lambda: store_b.status()["outbox_pending"] == 0, SYNC,
                 "market's offline edit acknowledged by central")
    network.wait(lambda: anonymised(store_b), SYNC, "market's copy of Anna anonymised")
    assert not_found(store_b)
    at_hq = at_central(network, anna)
    assert at_hq is not None and at_hq["customer"]["erased"] is True
    assert personal(at_hq["customer"]) == {}
    assert not any(c["active"] for c in at_hq["cards"]), at_hq["cards"]
    exported = expect(network.central.get(f"/api/v1/customers/{anna}/export"), 200)
    from_market = [e for e in exported["history"] if e["store"] == "market"]
    assert len(from_market) == 1 and from_market[0]["changes"] == {}, from_market
    assert {"first_name", "city", "email"} <= set(from_market[0]["redacted"])
    assert [(s["sale"], s["total"]) for s in exported["sales"]] == [(sale["uuid"], "4.20")]
    assert "Anna" not in str(exported) and "anna@example.com" not in str(exported)
    [at_hq_sale] = network.sales_at_central("kiosk-1")
    assert at_hq_sale["total"] == "4.20"

    # Whatever central sent after market's edit has reached kiosk-1 once a later customer
    # made at head office has (one ordered stream): Anna is still anonymised there.
    marker = expect(network.central.post("/api/v1/customers/", {
        "first_name": "Marco", "last_name": "Bianchi"}), 201)
    for agent in (store_a, store_b):
        network.wait(lambda agent=agent: recalled(agent, marker["id"]) == marker["id"], SYNC,
                     f"{agent.name} getting head office's later customer")
        assert anonymised(agent) and not_found(agent)
