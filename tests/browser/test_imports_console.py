"""A customers import in the console in a real browser against real central: a file with
bad rows uploaded, the progress bar followed (htmx, no reload) to the end, and the report of
the rejected rows downloaded with exactly those rows and why."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.browser.test_console import signed_in
from tests.e2e.harness import Network
from tests.integration.test_customers import card, misread

pytestmark = pytest.mark.e2e

GOOD = 1500


def customers_file(path: Path) -> None:
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out, delimiter=";")
        writer.writerow(["external_id", "first_name", "last_name", "email", "card"])
        for n in range(GOOD):
            writer.writerow([f"B-{n}", f"Ana {n}", "Pop", f"ana{n}@example.ro", card(7000 + n)])
            if n == 10:  # line 13
                writer.writerow(["B-bad-1", "Ion", "Rau", "not-an-address", ""])
            if n == 700:  # line 704
                writer.writerow(["B-bad-2", "Dan", "Rau", "", misread(9999)])


def test_a_customers_file_is_imported_with_a_progress_bar_and_its_report(
        page: Page, console: Network, tmp_path: Path) -> None:
    path = tmp_path / "customers.csv"
    customers_file(path)
    fleet = signed_in(page, console)
    fleet.open("/customers")
    page.get_by_role("link", name="Import customers").click()
    expect(page.get_by_role("heading", name="Import customers")).to_be_visible()
    page.locator('input[type="file"]').set_input_files(str(path))
    page.get_by_role("button", name="Import", exact=True).click()

    expect(page.get_by_role("heading", name="Import of customers.csv")).to_be_visible()
    fleet.mark_document()
    progress = page.locator("#import-progress")
    expect(progress).to_have_attribute("data-state", "done", timeout=180_000)
    assert fleet.document_was_not_reloaded()  # htmx swapped the progress in place
    expect(page.locator("progress")).to_have_attribute("value", "100")
    expect(page.locator("[data-import-summary]")).to_have_text(
        f"{GOOD + 2:,} rows: {GOOD:,} new, 0 updated, 0 unchanged, 2 rejected")

    with page.expect_download() as download:
        page.get_by_role("link", name="Download the rejected rows (CSV)").click()
    report = Path(download.value.path()).read_text(encoding="utf-8-sig")
    rows = list(csv.reader(report.splitlines()))
    assert rows[0] == ["line", "reason", "external_id", "first_name", "last_name", "email",
                       "card"]
    assert [(r[0], r[2]) for r in rows[1:]] == [("13", "B-bad-1"), ("704", "B-bad-2")]
    assert rows[1][1].startswith("email:") and rows[2][1].startswith("card:")
