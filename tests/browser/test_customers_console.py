"""The customer pages of the console in a real browser against real central: create a
customer, find them by a search without accents, their page with the observation, an
alert that matches, cards and history; a card with a wrong check digit named in the form."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.browser.test_console import signed_in
from tests.e2e.harness import Network
from tests.integration.test_customers import card, misread

pytestmark = pytest.mark.e2e


def test_a_customer_is_created_found_and_shown_with_observation_alert_and_cards(
        page: Page, console: Network) -> None:
    fleet = signed_in(page, console)
    fleet.open("/customer-alerts")
    page.get_by_label("Code").fill("no-mail")
    page.get_by_label("Order").fill("1")
    page.get_by_label("Condition").fill("email is emptyy")
    page.get_by_label("Message").fill("Ask for the e-mail")
    page.get_by_role("button", name="Save the alert").click()
    expect(page.get_by_role("alert").nth(1)).to_contain_text("condition:")
    page.get_by_label("Condition").fill("email is empty")
    page.get_by_role("button", name="Save the alert").click()
    expect(page.get_by_role("table", name="Customer alerts")).to_contain_text("no-mail")

    page.get_by_role("link", name="Customers", exact=True).click()
    expect(page.get_by_role("heading", name="Customers", exact=True)).to_be_visible()
    page.get_by_label("First name").fill("Ștefan")
    page.get_by_label("Last name").fill("Müller")
    page.get_by_label("Loyalty card").fill(misread(5))
    page.get_by_role("button", name="Create the customer").click()
    expect(page.get_by_role("alert").nth(1)).to_contain_text("check digit")
    page.get_by_label("Loyalty card").fill(card(5))
    page.get_by_label("Observation").fill("Pays by cheque only")
    page.get_by_role("button", name="Create the customer").click()

    expect(page.get_by_role("heading", name="Ștefan Müller")).to_be_visible()
    note = page.locator("[data-observation]")
    expect(note).to_have_text("Pays by cheque only")
    expect(note).to_have_css("font-weight", "700")
    expect(note).to_have_css("color", "rgb(198, 40, 40)")
    expect(page.locator('[data-alert="no-mail"]')).to_have_text("Ask for the e-mail")
    expect(page.locator(f'[data-card="{card(5)}"]')).to_contain_text("yes")
    expect(page.get_by_role("table", name="History")).to_contain_text("observation")

    fleet.open("/customers")
    page.get_by_label("Search").fill("stefan mull")  # no accents: still found, without reload
    rows = page.get_by_role("table", name="Customers")
    expect(rows).to_contain_text("Müller")
    page.get_by_label("Search").fill("nobody-like-this")
    expect(rows).to_contain_text("No customer found.")
