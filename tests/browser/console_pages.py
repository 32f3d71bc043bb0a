"""Page objects of the head-office console: what its users see and do, by role and label."""

from __future__ import annotations

from playwright.sync_api import Locator, Page, expect

from tests.browser.conftest import PASSWORD


class ConsolePage:
    def __init__(self, page: Page, base: str) -> None:
        self.page = page
        self.base = base

    def open(self, path: str) -> None:
        self.page.goto(self.base + path)

    def heading(self, name: str) -> Locator:
        return self.page.get_by_role("heading", name=name)

    def sign_out(self) -> None:
        self.page.get_by_role("button", name="Sign out").click()

    def choose_language(self, label: str, field: str = "Language",
                        button: str = "Change language") -> None:
        self.page.get_by_label(field).select_option(label=label)
        self.page.get_by_role("button", name=button).click()

    def mark_document(self) -> None:
        """Tag the loaded document: a full reload would lose the tag."""
        self.page.evaluate("window.__tessera_marker = 'still here'")

    def document_was_not_reloaded(self) -> bool:
        return bool(self.page.evaluate("window.__tessera_marker === 'still here'"))


class LoginPage(ConsolePage):
    def sign_in(self, username: str, password: str = PASSWORD) -> None:
        self.page.get_by_label("Username").fill(username)
        self.page.get_by_label("Password").fill(password)
        self.page.get_by_role("button", name="Sign in").click()


class FleetPage(ConsolePage):
    def store_row(self, code: str) -> Locator:
        return self.page.locator(f'tr[data-store="{code}"]')

    def state_of(self, code: str) -> Locator:
        return self.store_row(code).locator("[data-state]")

    def expect_state(self, code: str, label: str, timeout: float) -> None:
        expect(self.state_of(code)).to_have_text(label, timeout=timeout)

    def printer_of(self, code: str) -> Locator:
        return self.store_row(code).locator("[data-printer]")

    def expect_printer(self, code: str, label: str, timeout: float) -> None:
        expect(self.printer_of(code)).to_have_text(label, timeout=timeout)


class ProductsPage(ConsolePage):
    def new_product(self, sku: str, name: str, price: str, vat: str = "22",
                    barcodes: str = "") -> None:
        self.open("/products")
        self.page.get_by_role("button", name="New product").click()
        self.page.get_by_label("SKU").fill(sku)
        self.page.get_by_label("Name").fill(name)
        self.page.get_by_label("VAT rate").fill(vat)
        self.page.get_by_label("Sale price").fill(price)
        self.page.get_by_label("Barcodes (one per line)").fill(barcodes)
        self.page.get_by_role("button", name="Save").click()

    def row(self, sku: str) -> Locator:
        return self.page.locator(f'tr[data-sku="{sku}"]')

    def search(self, text: str, field: str = "Search") -> None:
        self.page.get_by_label(field).fill(text)


class DisplayPage(ConsolePage):
    """The customer display page: a group's or store's items, row by row."""

    def item(self, number: int) -> Locator:
        return self.page.get_by_role("group", name=f"Item {number}")

    def fill_item(self, number: int, kind: str, address: str, seconds: str = "") -> None:
        row = self.item(number)
        row.get_by_label("Kind").select_option(label=kind)
        row.get_by_label("Address").fill(address)
        row.get_by_label("Seconds").fill(seconds)

    def effective_of(self, store: str) -> Locator:
        return self.page.locator(f'tr[data-store="{store}"] [data-effective]')
