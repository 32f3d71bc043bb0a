"""Page objects for the till and the customer display: what a cashier and a customer see."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

from playwright.sync_api import Browser, Locator, Page, expect
from werkzeug.serving import make_server

from store_agent.sqlite_store import LocalStore

TIMEOUT_MS = 10_000


class TillPage:
    def __init__(self, browser: Browser, base: str, till: str = "1",
                 sign_in: bool = False) -> None:
        self.context = browser.new_context(locale="en-GB")
        self.context.set_default_timeout(TIMEOUT_MS)
        self.page: Page = self.context.new_page()
        self.errors: list[str] = []
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        self.page.goto(f"{base}/till/?till={till}")
        self.scan_field = self.page.get_by_label("Scan or type a code")
        if not sign_in:
            expect(self.scan_field).to_be_focused()

    @property
    def sign_in_form(self) -> Locator:
        return self.page.get_by_role("form", name="Cashier sign-in")

    def sign_in(self, code: str, pin: str) -> None:
        """The cashier types their code and PIN (Enter submits)."""
        form = self.sign_in_form
        expect(form.get_by_label("Cashier code")).to_be_focused()
        self.page.keyboard.type(code)
        form.get_by_label("PIN").focus()
        self.page.keyboard.type(pin)
        self.page.keyboard.press("Enter")

    def scan(self, code: str) -> None:
        """What a barcode scanner does: type the code into the focused field, then Enter."""
        self.page.keyboard.type(code)
        self.page.keyboard.press("Enter")

    @property
    def basket(self) -> Locator:
        return self.page.get_by_role("table", name="Basket")

    def line(self, name: str) -> Locator:
        return self.basket.locator("tr.line", has_text=name)

    def line_amount(self, name: str) -> Decimal:
        return Decimal(self.line(name).locator("td.amount").inner_text())

    def expect_lines(self, count: int) -> None:
        expect(self.basket.locator("tr.line")).to_have_count(count)

    def total(self) -> Decimal:
        return Decimal(self.page.locator("#total").inner_text())

    def pay_cash(self, amount: str) -> None:
        self.page.keyboard.press("F2")
        expect(self.page.get_by_role("region", name="Payment")).to_be_visible()
        self.scan(amount)

    @property
    def receipt(self) -> Locator:
        return self.page.get_by_role("region", name="Receipt")

    def receipt_text(self) -> str:
        expect(self.receipt).to_be_visible()
        return self.page.locator("#receipt-text").inner_text()

    def status(self, which: str) -> Locator:
        return self.page.locator(f"#st-{which}")

    def close(self) -> None:
        self.context.close()


class DisplayPage:
    def __init__(self, browser: Browser, base: str, till: str = "1") -> None:
        self.context = browser.new_context(locale="en-GB")
        self.context.set_default_timeout(TIMEOUT_MS)
        self.page = self.context.new_page()
        self.page.goto(f"{base}/display/?till={till}")

    @property
    def lines(self) -> Locator:
        return self.page.get_by_role("region", name="Your purchase").locator("li.line")

    def close(self) -> None:
        self.context.close()


@contextmanager
def served(app: Any) -> Iterator[str]:
    """``app`` (the agent's POS app) on a free local port, in a thread, for one test."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)


def stored_sales(store: LocalStore) -> list[dict[str, object]]:
    """The sales the store's database holds, in their numbering."""
    with store.read() as conn:
        return [json.loads(r[0]) for r in conn.execute("SELECT result FROM sales "
                                                       "ORDER BY number")]
