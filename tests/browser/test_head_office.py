"""What head office sends to the tills, end to end in Chromium: instructions (SPEC S4).

Broker, central (web, publisher, ingest) and a store agent run as processes; head office
uses the console in one browser, the cashier the till in another.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.console_pages import LoginPage
from tests.browser.pages import TillPage
from tests.browser.test_till import SYNC, shop
from tests.e2e.harness import Agent, Network
from tests.e2e.harness import expect as expect_status
from tests.integration.test_datecs_driver import Sim

pytestmark = pytest.mark.e2e


@pytest.fixture
def printer(tmp_path: Path) -> Iterator[Sim]:
    sim = Sim(tmp_path / "printer", "x", [])
    try:
        yield sim
    finally:
        sim.stop()


def staffed_shop(net: Network, printer: Sim) -> Agent:
    agent = shop(net, printer, central_started=True)
    expect_status(net.central.post("/api/v1/cashiers/", {
        "code": "anna", "name": "Anna Rossi", "pin": "4711", "stores": ["kiosk-1"]}), 201)
    net.wait(lambda: agent.http.get("/pos/v1/cashiers").json()["required"], SYNC,
             "the cashier at the store")
    return agent


def head_office(page: Page, net: Network) -> LoginPage:
    login = LoginPage(page, net.central.base)
    login.open("/instructions")
    login.sign_in("boss")
    expect(login.heading("Instructions to tills")).to_be_visible()
    return login


def test_an_instruction_written_at_central_scrolls_at_the_till_and_is_seen(
        console: Network, browser: Browser, page: Page, printer: Sim) -> None:
    net = console
    agent = staffed_shop(net, printer)
    till = TillPage(browser, agent.url, sign_in=True)
    till.sign_in("anna", "4711")
    expect(till.sign_in_form).to_be_hidden()
    band = till.page.get_by_role("region", name="Instructions from head office")
    expect(band).to_be_hidden()

    office = head_office(page, net)
    form = page.locator("form[action='/instructions'][method='post']")
    form.get_by_label("Text").fill("Check the expiry dates of the yoghurts")
    form.get_by_label("Scroll at the till").check()
    form.get_by_role("group", name="Stores").get_by_label("kiosk-1").check()
    form.get_by_role("button", name="Send the instruction").click()
    expect(office.heading("Instruction 1")).to_be_visible()
    expect(page.get_by_role("table", name="Seen by")).to_contain_text("Nobody yet.")

    # Within seconds the till shows it, scrolling (a CSS animation, no script moving it).
    expect(band).to_be_visible(timeout=SYNC * 1000)
    line = band.locator(".instruction", has_text="Check the expiry dates of the yoghurts")
    expect(line).to_have_class("instruction scroll")
    animation = line.locator(".instruction-text").evaluate(
        "el => getComputedStyle(el).animationName")
    assert animation == "instruction-scroll"
    expect(till.scan_field).to_be_focused()  # the band never takes the scanner's focus

    # The till reported it seen: central shows who saw it, once.
    def seen_at_central() -> bool:
        page.reload()
        return page.locator("tr[data-seen='kiosk-1:anna']").count() == 1
    net.wait(seen_at_central, SYNC, "the instruction seen at central")
    expect(page.get_by_role("table", name="Seen by")).to_contain_text("anna")
    seen = expect_status(net.central.get("/api/v1/instructions/1/seen"), 200)
    assert [(s["store"], s["cashier"]) for s in seen] == [("kiosk-1", "anna")]

    # Withdrawn at central, it leaves the till.
    page.get_by_role("button", name="Withdraw now").click()
    expect(page.get_by_role("status")).to_contain_text("Withdrawn")
    expect(band).to_be_hidden(timeout=SYNC * 1000)
    assert till.errors == []
    till.close()
