"""The browser till's customer: card scan, observation in red and bold, alerts in order,
search, the form with mandatory fields and extra questions, the nudge, the sale naming it.

The agent's POS app serves real HTTP from a thread over a store database filled the way
central fills it (protocol ``changes`` applied by the replica); the cashier is Chromium.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from store_agent.pos.api import create_app
from store_agent.pos.customers import Customers
from store_agent.settings import CustomerSettings
from store_agent.sqlite_store import LocalStore
from store_agent.sync.replica import Replica
from tests.browser.pages import TillPage, served, stored_sales
from tests.integration.test_store_customers import CARD, MULLER, STORE, Central, customer

pytestmark = pytest.mark.e2e


@pytest.fixture
def till_base(tmp_path: Path) -> Iterator[tuple[str, LocalStore]]:
    store = LocalStore(tmp_path / "agent.db")
    bread = {"sku": "bread", "name": "White bread", "category": None, "brand": None,
             "vat_rate": "9.00", "sale_price": "2.10", "active": True, "barcodes": []}
    Replica(store).apply({"v": 1, "kind": "changes", "stream": "catalog", "log_epoch": "e1",
                          "changes": [{"version": 1, "entity": "product", "key": "bread",
                                       "op": "upsert", "data": bread}]})
    Central(store).send(
        ("customer", MULLER, customer(MULLER, first_name="Jürgen", last_name="Müller",
                                      mobile="+393471234567",
                                      observation="Pays by cheque only",
                                      total_spend="1500.00", visits=3)),
        ("customer_card", CARD, {"number": CARD, "customer": MULLER, "kind": "loyalty",
                                 "active": True}),
        ("customer_alert", "spend", {"code": "spend", "position": 2,
                                     "condition": "total_spend >= 1000",
                                     "message": "Top customer: thank them"}),
        ("customer_alert", "sms", {"code": "sms", "position": 1,
                                   "condition": "consent_sms is empty",
                                   "message": "Ask for SMS consent"}),
        ("customer_field", "shoe_size", {"code": "shoe_size", "label": "Shoe size",
                                         "kind": "number", "position": 1}),
        ("customer_policy", "default", {"scope": "default",
                                        "mandatory": ["last_name", "mobile"]}))
    status = {"store": STORE, "broker_connected": False, "central_online": None,
              "outbox_pending": 0, "fiscal_printer": None}
    app = create_app(store, Replica(store), STORE, lambda: status,
                     customers=Customers(store, STORE, CustomerSettings("IT")))
    with served(app) as base:
        yield base, store


def test_a_scanned_card_shows_the_observation_in_red_and_bold_and_the_alerts_in_order(
        browser: Browser, till_base: tuple[str, LocalStore]) -> None:
    base, store = till_base
    till = TillPage(browser, base)
    page = till.page
    till.scan(CARD)
    customer_box = page.get_by_role("region", name="Customer")
    expect(customer_box.locator("#cust-name")).to_have_text("Jürgen Müller")
    observation = customer_box.locator("#cust-observation")
    expect(observation).to_have_text("Pays by cheque only")
    assert observation.evaluate("e => getComputedStyle(e).color") == "rgb(198, 40, 40)"
    assert int(observation.evaluate("e => getComputedStyle(e).fontWeight")) >= 700
    expect(page.get_by_role("list", name="Alerts").get_by_role("listitem")).to_have_text(
        ["Ask for SMS consent", "Top customer: thank them"])

    till.scan("bread")
    till.expect_lines(1)
    expect(page.locator("#cust-nudge")).to_be_hidden()
    till.pay_cash("5")
    till.receipt_text()
    assert [s.get("customer") for s in stored_sales(store)] == [MULLER]

    page.keyboard.press("Enter")  # a new sale forgets the customer
    expect(customer_box.locator("#cust-name")).to_have_text("No customer")
    till.scan("bread")
    page.keyboard.press("F2")
    expect(page.locator("#cust-nudge")).to_be_visible()
    assert till.errors == []
    till.close()


def test_a_customer_is_made_at_the_till_with_its_mandatory_fields_and_found_by_name(
        browser: Browser, till_base: tuple[str, LocalStore]) -> None:
    base, store = till_base
    till = TillPage(browser, base)
    page = till.page
    page.keyboard.press("F4")
    dialog = page.get_by_role("dialog", name="Customers")
    expect(dialog.get_by_label("Shoe size")).to_be_visible()
    dialog.get_by_label("Last name *").fill("Ionescu")
    dialog.get_by_label("First name").fill("Ștefan")
    dialog.get_by_label("Shoe size").fill("big")
    dialog.get_by_role("button", name="Save").click()
    expect(dialog.locator('.field-error[data-field="mobile"]')).to_have_text("is mandatory")
    expect(dialog.locator('.field-error[data-field="extra.shoe_size"]')).not_to_be_empty()
    dialog.get_by_label("Mobile *").fill("+40 721 000 000")
    dialog.get_by_label("Shoe size").fill("42")
    dialog.get_by_role("button", name="Save").click()
    expect(dialog).to_be_hidden()
    expect(page.locator("#cust-name")).to_have_text("Ștefan Ionescu")
    expect(page.locator("#cust-pending")).to_be_visible()
    with store.read() as conn:
        kinds = [r[0] for r in conn.execute("SELECT kind FROM outbox ORDER BY seq")]
    assert kinds == ["customer"]

    page.locator("#btn-detach").click()
    page.keyboard.press("F3")
    expect(dialog).to_be_visible()
    dialog.get_by_label("Card, mobile, e-mail or name").fill("stefan ION")
    page.keyboard.press("Enter")
    dialog.get_by_role("button", name="Ștefan Ionescu").click()
    expect(page.locator("#cust-name")).to_have_text("Ștefan Ionescu")
    assert till.errors == []
    till.close()
