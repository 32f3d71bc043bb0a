"""The browser till and the customer display, in Chromium, against the real network.

Broker, central (web, publisher, ingest) and a store agent with its Datecs simulator run as
processes; the cashier's side is a real browser typing like a barcode scanner.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Route, expect

from tests.browser.pages import DisplayPage, TillPage
from tests.e2e.harness import SYNC, Agent, Network
from tests.e2e.harness import expect as expect_status
from tests.integration.test_datecs_driver import Sim

pytestmark = pytest.mark.e2e

BREAD, MILK, CIGARETTES = "5940000000011", "5940000000028", "5940000000035"
UNION_CARD = "7700000000024"


@pytest.fixture
def printer(tmp_path: Path) -> Iterator[Sim]:
    sim = Sim(tmp_path / "printer", "x", [])
    try:
        yield sim
    finally:
        sim.stop()


def shop(net: Network, printer: Sim, display_dir: Path | None = None,
         central_started: bool = False) -> Agent:
    """Central with the union-card policy of seeds/004 and one kiosk with its printer."""
    if not central_started:
        net.start_central()
    agent = net.add_agent("kiosk-1")
    agent.env["TESSERA_PRINTER_URL"] = f"datecs+tcp://127.0.0.1:{printer.port}"
    if display_dir is not None:
        agent.env["TESSERA_DISPLAY_DIR"] = str(display_dir)
    agent.start()
    net.wait_agent_ready(agent)
    api = net.central
    for code, name, parent in (("food", "Food", None), ("tobacco", "Tobacco", None),
                               ("cigarettes", "Cigarettes", "tobacco")):
        expect_status(api.post("/api/v1/categories/",
                               {"code": code, "name": name, "parent": parent}), 201)
    for sku, barcode, name, category, vat, price in (
            ("BREAD", BREAD, "White bread", "food", "9", "2.10"),
            ("MILK", MILK, "Milk 1 l", "food", "9", "1.49"),
            ("CIG", CIGARETTES, "Cigarettes 20", "cigarettes", "20", "5.50")):
        expect_status(api.post("/api/v1/products/", {
            "sku": sku, "name": name, "category": category, "vat_rate": vat,
            "sale_price": price, "barcodes": [barcode]}), 201)
    expect_status(api.post("/api/v1/exclusions/", {
        "code": "no-tobacco", "name": "No discount on tobacco",
        "target": {"kind": "category", "codes": ["tobacco"]}}), 201)
    expect_status(api.post("/api/v1/partner-programmes/", {
        "code": "ABCDEF", "name": "Union ABCDEF card", "percent": "5",
        "stores": ["kiosk-1"]}), 201)
    report = expect_status(api.request(
        "POST", "/api/v1/partner-programmes/ABCDEF/cards/import",
        data=f"number,holder\n{UNION_CARD},Ion Ionescu\n".encode(),
        headers={"Content-Type": "text/csv"}), 200)
    assert report["added"] == 1
    net.wait(lambda: agent.status()["streams"].get("partners", 0) >= 2
             and agent.status()["streams"].get("policies", 0) >= 1
             and agent.status()["products"] == 3, SYNC, "policies, card and products")
    return agent


def closed_receipts(sim: Sim) -> list[dict[str, Any]]:
    return [d for d in sim.state["journal"] if d.get("kind") == "sale"
            and d.get("outcome") == "closed"]


def sell_union_basket(till: TillPage, printer: Sim, receipts_before: int) -> str:
    """Bread, two milks, cigarettes and the union card; cash 20; returns the receipt text."""
    till.scan(BREAD)
    till.scan(f"2*{MILK}")
    till.scan(CIGARETTES)
    till.scan(UNION_CARD)
    till.expect_lines(3)
    page = till.page
    bread = till.line("White bread")
    # Each discount says why; the cigarettes say why they have none.
    expect(page.locator("tr.adjustment").filter(has_text="Partner card ABCDEF")).to_have_count(2)
    expect(page.locator("tr.excluded")).to_have_text("No discount (no-tobacco)")
    expect(page.locator("#total")).to_have_text("10.32")
    expect(bread.locator("td.amount")).to_have_text("1.99")
    assert till.line_amount("Milk 1 l") == Decimal("2.83")
    assert till.line_amount("Cigarettes 20") == Decimal("5.50")
    expect(page.locator("#savings")).to_have_text("0.26")
    vat = page.get_by_role("table", name="VAT")
    expect(vat.locator("tbody tr")).to_have_count(2)
    expect(vat.locator("tbody tr").nth(0)).to_contain_text("9%")
    expect(vat.locator("tbody tr").nth(1)).to_contain_text("20%")

    till.pay_cash("20")
    text = till.receipt_text()
    expect(page.get_by_role("region", name="Payment")).to_contain_text("Change 9.68")
    fiscal = page.locator("#receipt-fiscal")
    expect(fiscal).to_contain_text("Fiscal receipt")

    # The receipt on screen is the one the fiscal printer closed.
    journal = closed_receipts(printer)
    assert len(journal) == receipts_before + 1
    printed = journal[-1]
    assert Decimal(printed["amount"]) == Decimal("10.32")
    assert fiscal.inner_text().endswith(str(printed["document"]))
    for line in printed["lines"]:
        assert line["name"] in text
        assert till.line_amount(line["name"]) == Decimal(line["amount"])
    assert "TOTAL" in text and "10.32" in text and "Change" in text and "9.68" in text
    assert Decimal(printed["tendered"]) == Decimal("20.00")
    return text


def test_cashier_sells_with_a_partner_card_online_and_with_the_broker_down(
        network: Network, browser: Browser, printer: Sim) -> None:
    net = network
    agent = shop(net, printer)
    till = TillPage(browser, agent.url)
    expect(till.status("central")).to_have_text("Central online")
    expect(till.status("printer")).to_have_text("Printer ready")

    sell_union_basket(till, printer, 0)
    net.wait(lambda: len(net.sales_at_central("kiosk-1")) == 1, SYNC, "first sale at central")

    # Next customer: Enter starts a new sale. The broker goes down meanwhile.
    till.page.keyboard.press("Enter")
    till.expect_lines(0)
    net.broker.kill()
    expect(till.status("central")).to_have_text("No broker: working offline")
    sell_union_basket(till, printer, 1)
    expect(till.status("outbox")).to_contain_text("Sales to upload:")
    assert agent.status()["outbox_pending"] >= 1

    # The printer runs out of paper: the status bar says so, then it is fixed.
    printer.inject(paper_out=1)
    expect(till.status("printer")).to_contain_text("out of paper")
    printer.inject(paper_out=0)
    expect(till.status("printer")).to_have_text("Printer ready")

    net.broker.start()
    net.wait_outbox_drained(agent, agent.status()["outbox_acked"]
                            + agent.status()["outbox_pending"], SYNC)
    sales = net.sales_at_central("kiosk-1")
    assert len(sales) == 2 and len({s["uuid"] for s in sales}) == 2
    assert all(Decimal(s["total"]) == Decimal("10.32") for s in sales)
    expect(till.status("outbox")).to_have_text("Sales to upload: 0")
    expect(till.status("central")).to_have_text("Central online")
    assert till.errors == []
    till.close()


def test_display_follows_the_till_and_a_retried_sale_is_the_same_sale(
        network: Network, browser: Browser, printer: Sim, tmp_path: Path) -> None:
    net = network
    media = tmp_path / "display"
    media.mkdir()
    (media / "01-offer.svg").write_text(
        '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>')
    (media / "urls.txt").write_text("# web pages\nhttp://127.0.0.1:9/offers 5\nnot-a-url\n")
    agent = shop(net, printer, media)

    display = DisplayPage(browser, agent.url)
    promo = display.page.get_by_role("region", name="Promotions")
    expect(promo.locator("img")).to_have_attribute("src", "/pos/v1/display/media/01-offer.svg")
    content = expect_status(agent.http.get("/pos/v1/display/content"), 200)
    assert [i["kind"] for i in content["items"]] == ["image", "url"]
    assert content["problems"] == ["urls.txt line 3: 'not-a-url' is not an http(s) URL"]

    till = TillPage(browser, agent.url)
    till.scan(BREAD)
    # The customer sees the line within a second of the scan.
    expect(display.lines.filter(has_text="White bread")).to_be_visible(timeout=1000)
    till.scan(UNION_CARD)
    expect(display.page.locator("#savings-row")).to_be_visible(timeout=1000)
    expect(display.page.locator("#total")).to_have_text("1.99", timeout=1000)

    # The first answer to the sale is lost on the way back: the sale is recorded, the till
    # does not know. Sending again gives back the same sale, not a second one.
    sent: list[dict[str, Any]] = []
    answers: list[int] = []

    def lose_first_answer(route: Route) -> None:
        sent.append(route.request.post_data_json)
        response = route.fetch()
        answers.append(response.status)
        if len(sent) == 1:
            route.abort("connectionreset")
        else:
            route.fulfill(response=response)

    till.page.route("**/pos/v1/sales", lose_first_answer)
    till.pay_cash("5")
    retry = till.page.get_by_role("button", name="Send again")
    expect(retry).to_be_visible()
    expect(till.page.get_by_role("alert")).to_contain_text("send it again")
    retry.click()
    till.receipt_text()
    assert answers == [201, 200]
    assert sent[0] == sent[1] and uuid.UUID(sent[0]["uuid"])
    assert agent.status()["sales"] == 1
    expect(display.page.locator("#change")).to_have_text("3.01", timeout=1000)
    net.wait(lambda: len(net.sales_at_central("kiosk-1")) == 1, SYNC, "the sale at central")
    assert net.sales_at_central("kiosk-1")[0]["uuid"] == sent[0]["uuid"]
    assert till.errors == []
    till.close()
    display.close()


def test_display_endpoints_refuse_bad_input_clearly(network: Network, printer: Sim) -> None:
    net = network
    agent = shop(net, printer)
    http = agent.http

    def put(body: Any) -> Any:
        return http.request("PUT", "/pos/v1/display/basket", json=body)

    def refused(response: Any, field: str) -> str:
        body = expect_status(response, 422)
        assert field in body["errors"], body
        return str(body["errors"][field])

    assert "letters" in refused(put({"till": "no good!"}),
                                "till")
    assert "unknown product" in refused(put({
        "lines": [{"code": "0000000000000"}]}), "lines")
    refused(put({"lines": [{"code": BREAD, "qty": "0"}]}),
            "lines")
    refused(put({"lines": "bread"}), "lines")
    refused(put({"lines": [{"code": BREAD}],
                                                      "cards": ["7799999999999"]}), "cards")
    assert "no sale" in refused(http.request("PUT", "/pos/v1/display/basket",
                                         json={"sale": str(uuid.uuid4())}), "sale")
    assert "either" in refused(put({
        "sale": str(uuid.uuid4()), "lines": [{"code": BREAD}]}), "sale")
    refused(http.get("/pos/v1/display/events", params={"till": "../x"}), "till")
    assert http.get("/pos/v1/display/media/..%2Fagent.env").status_code == 404
    # Nothing refused replaced what the display shows; a good basket still goes through.
    assert expect_status(http.get("/pos/v1/display/basket"), 200)["state"] == "idle"
    shown = expect_status(put({
        "lines": [{"code": BREAD, "qty": "2"}]}), 200)
    assert shown["total"] == "4.20" and shown["state"] == "open"
    page = http.get("/till/")
    assert page.status_code == 200
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    assert "unsafe-inline" not in page.headers["Content-Security-Policy"]
    assert "<script>" not in page.text


def test_a_cashier_signs_in_and_central_records_them_on_the_sale(
        network: Network, browser: Browser, printer: Sim) -> None:
    net = network
    agent = shop(net, printer)
    expect_status(net.central.post("/api/v1/cashiers/", {
        "code": "anna", "name": "Anna Rossi", "pin": "4711", "stores": ["kiosk-1"]}), 201)
    net.wait(lambda: agent.http.get("/pos/v1/cashiers").json()["required"], SYNC,
             "the cashier at the store")

    till = TillPage(browser, agent.url, sign_in=True)
    form = till.sign_in_form
    expect(form).to_be_visible()
    till.sign_in("anna", "0000")
    expect(form.get_by_role("alert")).to_have_text("Unknown cashier or wrong PIN")
    form.get_by_label("Cashier code").fill("")
    form.get_by_label("Cashier code").focus()
    till.sign_in("anna", "4711")
    expect(form).to_be_hidden()
    expect(till.page.locator("#st-cashier")).to_have_text("Cashier: Anna Rossi")
    expect(till.scan_field).to_be_focused()

    till.scan(BREAD)
    till.expect_lines(1)
    till.pay_cash("5")
    expect(till.page.locator("#receipt-fiscal")).to_contain_text("Fiscal receipt")
    net.wait(lambda: len(net.sales_at_central("kiosk-1")) == 1, SYNC, "the sale at central")
    [sale] = net.sales_at_central("kiosk-1")
    assert sale["cashier"] == "anna"
    assert till.errors == []
    till.close()
