"""What head office sends to the tills and gets back, end to end in Chromium: instructions
(SPEC S4) and footfall (S7).

Broker, central (web, publisher, ingest) and a store agent run as processes; head office
uses the console in one browser, the cashier the till in another.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
from collections.abc import Iterator
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.console_pages import LoginPage
from tests.browser.pages import TillPage
from tests.browser.test_till import BREAD, SYNC, shop
from tests.e2e.harness import ROOT, TESSERA, Agent, Network
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


def test_a_simulated_counter_shows_in_the_footfall_page_with_its_conversion_rate(
        console: Network, browser: Browser, page: Page, printer: Sim) -> None:
    net = console
    agent = shop(net, printer, central_started=True)
    end = dt.datetime.now(dt.UTC).replace(second=0, microsecond=0)
    play = [*TESSERA, "agent", "counter-sim", "--agent-url", agent.url, "--counter", "door-1",
            "--minutes", "15", "--intervals", "6", "--mean", "20", "--seed", "7",
            "--end", end.strftime("%Y-%m-%dT%H:%M%z")]
    sim = subprocess.run(play, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert sim.returncode == 0, sim.stderr
    pushes = [json.loads(line) for line in sim.stdout.splitlines()]
    visits = sum(p["in"] for p in pushes)
    assert sum(p["accepted"] for p in pushes) == 6 and visits > 0
    sales = 3
    for _ in range(sales):
        expect_status(agent.sell([(BREAD, "1")], payments=[
            {"method": "cash", "amount": "2.10"}]), 201)
    net.wait(lambda: len(net.sales_at_central("kiosk-1")) == sales, SYNC, "the sales")

    today = dt.datetime.now(dt.UTC).date()
    period = (f"since={(today - dt.timedelta(days=1)).isoformat()}"
              f"&until={(today + dt.timedelta(days=1)).isoformat()}&store=kiosk-1")
    login = LoginPage(page, net.central.base)
    login.open("/footfall?" + period)
    login.sign_in("boss")
    expect(login.heading("Footfall")).to_be_visible()
    total = page.locator("#footfall-total")

    def counted() -> bool:
        page.reload()
        return total.locator("td").first.inner_text() == str(visits)
    net.wait(counted, SYNC, "the counter's visits at central")
    rate = (Decimal(sales) * 100 / visits).quantize(Decimal("0.1"), ROUND_HALF_UP)
    expect(total).to_contain_text(f"{rate} %")
    expect(total.locator("td").nth(1)).to_have_text(str(sales))
    expect(page.get_by_role("img", name="Visits per hour (store-local)")).to_be_visible()
    with page.expect_download() as download:
        page.get_by_role("link", name="Export to Excel").click()
    assert download.value.suggested_filename.endswith("-kiosk-1.xlsx")
    # Pushed again (a counter repeating itself): nothing counted twice.
    again = subprocess.run(play, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert again.returncode == 0, again.stderr
    assert [json.loads(line)["duplicates"] for line in again.stdout.splitlines()] == [6]
    report = expect_status(net.central.get("/api/v1/footfall/?" + period), 200)
    assert report["total"]["visits"] == visits and report["total"]["sales"] == sales


def test_a_survey_is_asked_after_the_sale_can_be_skipped_and_its_answers_reach_central_once(
        network: Network, browser: Browser, printer: Sim) -> None:
    net = network
    agent = shop(net, printer)
    api = net.central
    for body in ({"code": "how", "text": "How did you hear of us?", "choices": [
                     {"code": "friend", "text": "A friend"}, {"code": "web", "text": "The web"},
                     {"code": "sign", "text": "Passing by"}]},
                 {"code": "again", "text": "Will you come back?", "choices": [
                     {"code": "yes", "text": "Yes"}, {"code": "no", "text": "No"}]}):
        expect_status(api.post("/api/v1/survey-questions/", body), 201)
    expect_status(api.post("/api/v1/surveys/", {"code": "autumn", "name": "Autumn survey",
                                                "questions": ["how", "again"]}), 201)
    expect_status(api.request("PUT", "/api/v1/store-surveys/kiosk-1",
                              json={"survey": "autumn"}), 200)
    net.wait(lambda: agent.http.get("/pos/v1/survey").json()["survey"] is not None, SYNC,
             "the survey at the store")
    till = TillPage(browser, agent.url)
    overlay = till.page.get_by_role("region", name="Survey")

    # First customer: skips.
    till.scan(BREAD)
    till.expect_lines(1)
    till.pay_cash("5")
    expect(till.receipt).to_be_visible()
    expect(overlay).to_be_visible()
    expect(overlay).to_contain_text("How did you hear of us?")
    till.page.keyboard.press("Escape")
    expect(overlay).to_be_hidden()
    expect(till.receipt).to_be_visible()  # Esc skipped the survey, it did not cancel
    net.wait(lambda: len(net.sales_at_central("kiosk-1")) == 1, SYNC, "the first sale")

    # The broker goes down; the next customer answers both questions.
    till.page.keyboard.press("Enter")
    till.expect_lines(0)
    net.broker.kill()
    expect(till.status("central")).to_have_text("No broker: working offline")
    till.scan(BREAD)
    till.expect_lines(1)
    till.pay_cash("5")
    expect(overlay).to_contain_text("How did you hear of us?")
    till.page.keyboard.press("2")
    expect(overlay).to_contain_text("Will you come back?")
    overlay.get_by_role("button", name="1. Yes").click()
    expect(overlay).to_be_hidden()
    expect(till.scan_field).to_be_focused()
    net.wait(lambda: agent.status()["outbox_pending"] >= 2, SYNC, "sale and answers queued")

    net.broker.start()
    net.wait_outbox_drained(agent, agent.status()["outbox_acked"]
                            + agent.status()["outbox_pending"], SYNC)
    today = dt.datetime.now(dt.UTC).date().isoformat()
    period = f"since={today}&until={today}"
    results = expect_status(api.get(f"/api/v1/survey-results/?{period}"), 200)
    assert results["sales"] == 1
    assert [(q["question"], [(c["choice"], c["count"]) for c in q["choices"]])
            for q in results["questions"]] == [("how", [("web", 1)]), ("again", [("yes", 1)])]
    assert till.errors == []
    till.close()
