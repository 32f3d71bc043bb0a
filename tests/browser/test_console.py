"""The head-office console in a real browser against real central, broker and agents."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import create_user
from tests.browser.console_pages import ConsolePage, FleetPage, LoginPage, ProductsPage
from tests.e2e.harness import Http, Network, ean13
from tests.e2e.harness import expect as expect_http
from tests.integration.test_datecs_driver import Sim

pytestmark = pytest.mark.e2e

BARCODE = "4006381333931"


def signed_in(page: Page, net: Network, username: str = "boss") -> FleetPage:
    login = LoginPage(page, net.central.base)
    login.open("/")
    expect(login.heading("Sign in")).to_be_visible()  # sent to the sign-in page
    login.sign_in(username)
    fleet = FleetPage(page, net.central.base)
    expect(fleet.heading("Fleet")).to_be_visible()
    return fleet


def test_sign_in_and_out(page: Page, console: Network) -> None:
    login = LoginPage(page, console.central.base)
    login.open("/login")
    login.sign_in("boss", "not the password")
    expect(page.get_by_role("alert")).to_contain_text("Wrong username or password")
    login.sign_in("boss")
    fleet = FleetPage(page, console.central.base)
    expect(fleet.heading("Fleet")).to_be_visible()
    expect(page.get_by_text("boss", exact=True)).to_be_visible()
    fleet.sign_out()
    expect(login.heading("Sign in")).to_be_visible()
    fleet.open("/")
    expect(login.heading("Sign in")).to_be_visible()


def test_the_fleet_shows_a_store_going_offline_and_back_without_a_reload(
        page: Page, console: Network) -> None:
    kiosk = console.add_agent("kiosk-1")
    kiosk.env["TESSERA_BROKER_KEEPALIVE"] = "3"
    kiosk.start()
    console.wait_agent_ready(kiosk)
    fleet = signed_in(page, console)
    fleet.expect_state("kiosk-1", "online", timeout=20_000)
    fleet.mark_document()

    kiosk.kill()  # kill -9: the broker publishes the store's will
    fleet.expect_state("kiosk-1", "offline", timeout=20_000)
    console.restart_agent(kiosk)
    fleet.expect_state("kiosk-1", "online", timeout=20_000)
    assert fleet.document_was_not_reloaded()

    fleet.store_row("kiosk-1").get_by_role("link").click()
    expect(page.get_by_role("heading", name="Store kiosk-1")).to_be_visible()
    expect(page.get_by_role("table", name="Streams")).to_contain_text("store-config@s:kiosk-1")


def test_the_fleet_shows_the_printer_running_out_of_paper_and_back_without_a_reload(
        page: Page, console: Network, tmp_path: Path) -> None:
    printer = Sim(tmp_path / "printer", "x", [])
    try:
        kiosk = console.add_agent("kiosk-1")
        kiosk.env["TESSERA_PRINTER_URL"] = f"datecs+tcp://127.0.0.1:{printer.port}"
        kiosk.start()
        console.wait_agent_ready(kiosk)
        fleet = signed_in(page, console)
        fleet.expect_printer("kiosk-1", "Ready", timeout=20_000)
        fleet.mark_document()

        printer.inject(paper_out=1)  # the agent's birth again, with the printer's error
        fleet.expect_printer("kiosk-1", "Error", timeout=20_000)
        expect(fleet.printer_of("kiosk-1")).to_have_attribute(
            "title", re.compile("paper", re.IGNORECASE))
        printer.inject(paper_out=0)
        fleet.expect_printer("kiosk-1", "Ready", timeout=20_000)
        assert fleet.document_was_not_reloaded()

        printer.inject(paper_out=1)
        fleet.store_row("kiosk-1").get_by_role("link").click()
        expect(page.locator("[data-printer-message]")).to_contain_text(
            re.compile("paper", re.IGNORECASE), timeout=20_000)
    finally:
        printer.stop()


def test_a_form_posted_without_its_csrf_token_is_refused(page: Page, console: Network) -> None:
    fleet = signed_in(page, console)
    # What a forged cross-site form would send: the same form without the token.
    page.evaluate("document.querySelectorAll('input[name=csrf_token]')"
                  ".forEach(input => input.remove())")
    fleet.sign_out()
    expect(page.get_by_role("alert")).to_contain_text("form has expired")
    fleet.open("/")
    expect(fleet.heading("Fleet")).to_be_visible()  # still signed in: the post did nothing


def test_switching_to_italian(page: Page, console: Network) -> None:
    fleet = signed_in(page, console)
    fleet.choose_language("Italiano")
    expect(page.get_by_role("heading", name="Rete")).to_be_visible()
    expect(page.get_by_role("button", name="Esci")).to_be_visible()
    expect(page.locator("html")).to_have_attribute("lang", "it")
    menu = page.get_by_role("navigation")
    for label in ("Cassieri", "Fedeltà", "Istruzioni", "Affluenza", "Sondaggi"):
        expect(menu.get_by_role("link", name=label, exact=True)).to_be_visible()
    page.goto(f"{console.central.base}/instructions")
    expect(page.get_by_role("heading", name="Istruzioni alle casse")).to_be_visible()
    ConsolePage(page, console.central.base).choose_language("English", field="Lingua",
                                                        button="Cambia lingua")
    expect(page.get_by_role("heading", name="Instructions to tills")).to_be_visible()


def test_a_product_made_in_the_console_is_sold_at_the_store(
        page: Page, console: Network) -> None:
    (kiosk,) = console.start_stores("kiosk-1")
    signed_in(page, console, "petra")
    products = ProductsPage(page, console.central.base)
    # a barcode with a wrong check digit is refused with the API's message; nothing is saved
    products.new_product("TEA-1", "Green tea", "1234.50", barcodes="4006381333932")
    expect(page.get_by_role("alert")).to_be_visible()
    expect(page.locator("#barcodes-error")).to_contain_text("check digit")
    page.get_by_label("Barcodes (one per line)").fill(BARCODE)
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_contain_text("Saved")

    console.wait(lambda: kiosk.price_of(BARCODE) == Decimal("1234.50"), 30,
                 "the kiosk selling TEA-1 at 1234.50")

    products.open("/products")
    products.search("Green")
    expect(products.row("TEA-1")).to_contain_text("€1,234.50")
    products.choose_language("Italiano")
    expect(page.get_by_role("heading", name="Prodotti")).to_be_visible()
    expect(products.row("TEA-1")).to_contain_text("1.234,50\xa0€")


def test_a_product_name_with_markup_is_shown_as_text(page: Page, console: Network) -> None:
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    signed_in(page, console, "petra")
    products = ProductsPage(page, console.central.base)
    name = "<script>alert(1)</script>"
    products.new_product("XSS-1", name, "1.00")
    expect(page.get_by_role("status")).to_contain_text("Saved")
    products.open("/products")
    expect(products.row("XSS-1").get_by_role("cell", name=name, exact=True)).to_be_visible()
    assert dialogs == []


def test_only_an_admin_opens_the_users_page(page: Page, console: Network) -> None:
    fleet = signed_in(page, console, "petra")
    expect(page.get_by_role("link", name="Users")).to_have_count(0)
    fleet.open("/users")
    expect(page.get_by_role("heading", name="Not allowed")).to_be_visible()
    fleet.sign_out()
    LoginPage(page, console.central.base).sign_in("boss")
    page.get_by_role("link", name="Users").click()
    expect(page.get_by_role("table", name="Users")).to_contain_text("petra")


def test_a_technician_creates_a_store_and_issues_its_enrolment_code(
        page: Page, console: Network) -> None:
    create_user(console, "tom", "technician")
    signed_in(page, console, "tom")
    page.get_by_role("link", name="Stores").click()
    page.get_by_role("button", name="New store").click()
    page.get_by_label("Code").fill("market")
    page.get_by_label("Name").fill("Market <b>Square</b>")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_contain_text("Saved")
    page.get_by_role("button", name="Issue an enrolment code").click()
    code = page.get_by_label("Enrolment code").inner_text().strip()
    command = page.locator("[data-command]").inner_text()
    assert command == f"tessera agent enroll --central {console.central.base} --code {code}"
    # In the store's time zone (a new store's default), as every moment of a store is.
    expect(page.locator("[data-expires]")).to_contain_text("Europe/Rome")

    # The code is real: the shop PC's redemption gets the store identity, once.
    anonymous = Http(console.central.base)
    try:
        answer = expect_http(anonymous.post("/api/v1/enrolments/", {"code": code}), 200, 201)
        assert answer["store"]["code"] == "market" and answer["broker"]["username"] == "market"
        assert anonymous.post("/api/v1/enrolments/", {"code": code}).status_code == 403
    finally:
        anonymous.close()


def test_a_bulk_price_change_is_previewed_then_confirmed_and_reaches_the_store(
        page: Page, console: Network) -> None:
    (kiosk,) = console.start_stores("kiosk-1")
    console.create_category("tea")
    console.create_product("TEA-1", BARCODE, "2.00", category="tea")
    console.create_product("TEA-2", ean13(2), "10.00", category="tea")
    console.wait(lambda: kiosk.price_of(BARCODE) == Decimal("2.00"), 30, "the kiosk at 2.00")
    signed_in(page, console, "petra")
    page.get_by_role("link", name="Prices").click()
    page.get_by_role("link", name="Bulk price change").click()
    page.get_by_label("Value").fill("10")
    page.get_by_label("Category").select_option(label="Tea")
    page.get_by_role("button", name="Preview").click()
    changes = page.get_by_role("table", name="Changes")
    expect(changes.locator('tr[data-sku="TEA-1"]')).to_contain_text("€2.20")
    expect(changes.locator('tr[data-sku="TEA-2"]')).to_contain_text("€11.00")
    assert kiosk.price_of(BARCODE) == Decimal("2.00")  # a preview writes nothing
    page.get_by_role("button", name="Confirm 2 changes").click()
    expect(page.get_by_role("status")).to_contain_text("2 prices changed")
    console.wait(lambda: kiosk.price_of(BARCODE) == Decimal("2.20"), 30, "the kiosk at 2.20")
