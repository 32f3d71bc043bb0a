"""Head office sets the customer displays' content in the console, in Chromium against
real central processes: a group's items by form rows, a store's effective content, and a
bad address refused beside its field with nothing saved."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import create_user
from tests.browser.console_pages import DisplayPage, LoginPage
from tests.e2e.harness import Network
from tests.e2e.harness import expect as expect_status

pytestmark = pytest.mark.e2e

IMAGE = "https://media.example.com/autumn.png"


def test_marketing_sets_a_groups_display_content_and_a_bad_address_saves_nothing(
        console: Network, page: Page) -> None:
    net = console
    expect_status(net.central.post("/api/v1/store-groups/", {"code": "kiosks",
                                                             "name": "Kiosks"}), 201)
    expect_status(net.central.post("/api/v1/stores/", {"code": "kiosk-7", "name": "Kiosk 7",
                                                       "group": "kiosks"}), 201)
    create_user(net, "mara", "marketing")
    login = LoginPage(page, net.central.base)
    login.open("/display")
    login.sign_in("mara")
    screen = DisplayPage(page, net.central.base)
    expect(screen.heading("Customer display")).to_be_visible()
    expect(screen.effective_of("kiosk-7")).to_have_text("the local folder")

    page.get_by_role("table", name="Store groups").get_by_role("link", name="kiosks").click()
    expect(screen.heading("Customer display of group kiosks")).to_be_visible()
    screen.fill_item(1, "Image", IMAGE, "6")
    page.get_by_role("button", name="Add a row").click()
    expect(screen.item(2)).to_be_visible()
    expect(screen.item(1).get_by_label("Address")).to_have_value(IMAGE)  # kept, not saved
    screen.fill_item(2, "Image", "ftp://media.example.com/winter.png")
    page.get_by_role("button", name="Save").click()

    expect(page.get_by_role("alert")).to_have_text("Nothing was saved.")
    address = screen.item(2).get_by_label("Address")
    expect(address).to_have_attribute("aria-invalid", "true")
    expect(screen.item(2).locator(".error")).to_have_text(
        "An address starting with http:// or https://.")
    expect(address).to_have_value("ftp://media.example.com/winter.png")
    assert net.central.get("/api/v1/display-content/group/kiosks").status_code == 404

    screen.item(2).get_by_label("Remove").check()
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_contain_text("Saved")
    saved = expect_status(net.central.get("/api/v1/display-content/group/kiosks"), 200)
    assert saved["items"] == [{"kind": "image", "src": IMAGE, "seconds": 6}]

    # The group's store shows it as its effective content, on the list and on its page.
    screen.open("/display")
    expect(screen.effective_of("kiosk-7")).to_have_text("the content of group kiosks")
    page.get_by_role("table", name="Stores").get_by_role("link", name="kiosk-7").click()
    shown = page.get_by_role("region", name="Shown now")
    expect(shown).to_contain_text("the content of group kiosks")
    expect(shown).to_contain_text(IMAGE)
    expect(page.get_by_role("button", name="Back to the local folder")).to_have_count(0)

    # Back to the local folder, from the group's page; and the page in Italian.
    screen.open("/display/groups/kiosks")
    page.get_by_role("button", name="Back to the local folder").click()
    expect(page.get_by_role("status")).to_have_text("Removed.")
    assert net.central.get("/api/v1/display-content/group/kiosks").status_code == 404
    screen.choose_language("Italiano")
    expect(screen.heading("Display cliente del gruppo kiosks")).to_be_visible()
    expect(page.get_by_role("button", name="Aggiungi una riga")).to_be_visible()
