"""The browser till's loyalty: the basket's points, the Gifts button listing every gift with
can/cannot and why, taking one (its line at 0), the receipt's points, one gift per sale.

The agent's POS app serves real HTTP from a thread over a store database filled the way
central fills it (protocol ``changes`` applied by the replica); the cashier is Chromium.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from store_agent.pos.api import create_app
from store_agent.sqlite_store import LocalStore
from store_agent.sync.replica import Replica
from tests.browser.pages import TillPage, served, stored_sales
from tests.integration.test_pos_loyalty import ADA, Central, product, profile

pytestmark = pytest.mark.e2e

CARD = "2990000000019"


@pytest.fixture
def till_base(tmp_path: Path) -> Iterator[tuple[str, LocalStore]]:
    store = LocalStore(tmp_path / "agent.db")
    central = Central(store)
    central.send("catalog", ("product", "bread", product("bread", "2.50")),
                 ("product", "mug", product("mug", "6.00")),
                 ("product", "vase", product("vase", "30.00")))
    central.send("loyalty",
                 ("loyalty_profile", "BASE", profile("BASE", 1, True, {
                     "threshold": "1", "step": "1", "points_per_step": "1"})),
                 ("loyalty_level", "L1", {"code": "L1", "name": "Bronze", "points": "10"}),
                 ("loyalty_level", "L2", {"code": "L2", "name": "Silver", "points": "50"}),
                 ("loyalty_gift", "mug", {"sku": "mug", "level": "L1", "points": None,
                                          "level_points": "10"}),
                 ("loyalty_gift", "vase", {"sku": "vase", "level": "L2", "points": None,
                                           "level_points": "50"}))
    central.send("customers",
                 ("customer", ADA, {"id": ADA, "first_name": "Ada", "last_name": "Lovelace",
                                    "extra": {}, "stamps": {}}),
                 ("customer_card", CARD, {"number": CARD, "customer": ADA, "kind": "loyalty",
                                          "active": True}))
    central.balance(ADA, "30")
    status = {"store": "kiosk-1", "broker_connected": False, "central_online": None,
              "outbox_pending": 0, "fiscal_printer": None}
    app = create_app(store, Replica(store), "kiosk-1", lambda: status)
    with served(app) as base:
        yield base, store


def test_the_gifts_button_lists_why_and_taking_one_adds_its_line_at_zero(
        browser: Browser, till_base: tuple[str, LocalStore]) -> None:
    base, store = till_base
    till = TillPage(browser, base)
    page = till.page
    gifts_button = page.get_by_role("button", name="Gifts")
    expect(gifts_button).to_be_hidden()  # no customer yet
    till.scan("bread")
    till.expect_lines(1)
    expect(page.locator("#points-row")).to_be_hidden()
    till.scan(CARD)
    expect(page.locator("#cust-name")).to_have_text("Ada Lovelace")
    expect(page.locator("#points")).to_have_text("2")  # the basket's points, priced again

    gifts_button.click()
    dialog = page.get_by_role("dialog", name="Gifts")
    expect(dialog.locator("#gifts-balance")).to_have_text(
        "Balance 30 points, may spend 30 now")
    mug, vase = dialog.locator("li.gift[data-sku=mug]"), dialog.locator("li.gift[data-sku=vase]")
    expect(mug).to_have_attribute("data-can-take", "yes")
    expect(vase).to_have_attribute("data-can-take", "no")
    expect(vase.locator(".gift-reason")).to_contain_text("level L2 not reached")
    mug.get_by_role("button", name="Take").click()
    expect(dialog).to_be_hidden()
    till.expect_lines(2)
    gift_line = till.basket.locator("tr.line[data-gift=yes]")
    expect(gift_line).to_contain_text("Mug")
    assert till.line_amount("Mug") == 0
    expect(till.basket).to_contain_text("loyalty gift (10 points)")
    assert till.total() == Decimal("2.50")  # the bread; the gift is free

    # A second gift: the list says why not.
    gifts_button.click()
    expect(dialog.locator("li.gift[data-sku=mug] .gift-reason")).to_contain_text(
        "only one gift per sale")
    expect(dialog.get_by_role("button", name="Take")).to_have_count(0)
    dialog.get_by_role("button", name="Close").click()

    till.pay_cash("5")
    text = till.receipt_text()
    assert "Points earned: 2" in text and "Points spent: 10" in text
    assert "Points balance: 22" in text
    [sale] = stored_sales(store)
    assert sale["loyalty"] == {"profile": "BASE", "profile_version": 1, "points": "2",
                               "gifts": [{"line": 1, "points": "10"}], "balance": "22"}
    assert till.errors == []
    till.close()
