"""The console's customer display page on real PostgreSQL: a group's content set by form
rows, a store's effective content, refused items shown beside their field with nothing
saved, rows added and removed without saving, and "back to the local folder"."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient

from central.db import Database
from central.roles import MARKETING, PRICING
from central.services import display, stores
from central.services.errors import NotFound
from tests.integration.test_console import (  # noqa: F401 - fixtures
    app_config,
    clock,
    csrf,
    make_user,
    sign_in,
)

pytestmark = pytest.mark.integration

IMAGE = "https://media.example.com/autumn.png"


@pytest.fixture
def chain(clean_pg_db: Database) -> Database:
    with clean_pg_db.transaction() as session:
        stores.create_group(session, "kiosks", "Kiosks")
        stores.create_store(session, "kiosk-1", "Kiosk 1", group="kiosks")
        stores.create_store(session, "market", "Market")
    return clean_pg_db


@pytest.fixture
def marketing(app: Flask, chain: Database) -> Iterator[FlaskClient]:
    make_user(chain, "mara", MARKETING)
    with app.test_client() as client:
        yield sign_in(client, "mara")


def rows(*items: tuple[str, str, str], **extra: str) -> dict[str, str]:
    form = {"rows": str(len(items)), **extra}
    for n, (kind, src, seconds) in enumerate(items):
        form.update({f"kind-{n}": kind, f"src-{n}": src, f"seconds-{n}": seconds})
    return form


def post(client: FlaskClient, path: str, form: dict[str, str]) -> tuple[int, str]:
    response = client.post(path, data={**form, "csrf_token": csrf(client, path)})
    return response.status_code, response.get_data(as_text=True)


def content(db: Database, scope: str, code: str) -> list[dict[str, object]] | None:
    with db.transaction() as session:
        try:
            return display.get(session, scope, code)
        except NotFound:
            return None


def effective(client: FlaskClient, store: str) -> str:
    page = client.get("/display").get_data(as_text=True)
    found = re.search(rf'<tr data-store="{store}">.*?<td data-effective>(.*?)</td>', page,
                      re.S)
    assert found, page
    return found.group(1).strip()


def test_a_groups_content_is_set_by_rows_and_reaches_its_stores_page(
        marketing: FlaskClient, chain: Database) -> None:
    assert effective(marketing, "kiosk-1") == "the local folder"
    status, _page = post(marketing, "/display/groups/kiosks", rows(
        ("image", IMAGE, "5"), ("url", "https://example.com/offers", ""), ("image", "", "")))
    assert status == 303
    assert content(chain, "group", "kiosks") == [
        {"kind": "image", "src": IMAGE, "seconds": 5},
        {"kind": "url", "src": "https://example.com/offers", "seconds": 10}]
    assert effective(marketing, "kiosk-1") == "the content of group kiosks"
    assert effective(marketing, "market") == "the local folder"
    page = marketing.get("/display/stores/kiosk-1").get_data(as_text=True)
    assert IMAGE in page and "Back to the" not in page  # no own content to remove

    # The store's own content wins; removing it goes back to the group's.
    assert post(marketing, "/display/stores/kiosk-1",
                rows(("video", "https://media.example.com/spot.mp4", "")))[0] == 303
    assert effective(marketing, "kiosk-1") == "its own content"
    page = marketing.get("/display/stores/kiosk-1").get_data(as_text=True)
    assert "Back to the group's content" in page
    assert post(marketing, "/display/stores/kiosk-1", {"action": "delete"})[0] == 303
    assert content(chain, "store", "kiosk-1") is None
    assert effective(marketing, "kiosk-1") == "the content of group kiosks"
    assert post(marketing, "/display/groups/kiosks", {"action": "delete"})[0] == 303
    assert effective(marketing, "kiosk-1") == "the local folder"
    # The page's notices are its own: a link cannot make it say something else.
    page = marketing.get("/display/groups/kiosks?done=Call+0800+now").get_data(as_text=True)
    assert "Call 0800 now" not in page and 'role="alert"' not in page


@pytest.mark.parametrize(("row", "field", "reason"), [
    (("image", "ftp://media.example.com/a.png", "5"), "src", "An address starting with http"),
    (("image", "javascript:alert(1)", ""), "src", "An address starting with http"),
    (("image", IMAGE, "0"), "seconds", "A whole number of seconds"),
    (("image", IMAGE, "ten"), "seconds", "A whole number of seconds"),
    (("poster", IMAGE, "5"), "kind", "Choose image, video or web page"),
])
def test_a_refused_item_is_shown_beside_its_field_and_nothing_is_saved(
        marketing: FlaskClient, chain: Database, row: tuple[str, str, str], field: str,
        reason: str) -> None:
    assert post(marketing, "/display/groups/kiosks", rows(("image", IMAGE, "5")))[0] == 303
    status, page = post(marketing, "/display/groups/kiosks",
                        rows(("url", "https://example.com/offers", ""), row))
    assert status == 422
    assert "Nothing was saved." in page
    # The refused field of the second row carries the reason; what was typed stays.
    tag = re.search(rf'<(?:input|select) name="{field}-1"[^>]*>', page)
    assert tag and 'aria-invalid="true"' in tag.group(0), page
    assert re.search(rf'<small id="error-1" class="error">{reason}', page), page
    assert 'value="https://example.com/offers"' in page
    assert content(chain, "group", "kiosks") == [{"kind": "image", "src": IMAGE,
                                                  "seconds": 5}]


def test_rows_are_added_without_saving_and_a_ticked_row_is_dropped_on_save(
        marketing: FlaskClient, chain: Database) -> None:
    status, page = post(marketing, "/display/groups/kiosks",
                        rows(("image", IMAGE, "5"), ("image", "", ""), action="add"))
    assert status == 200
    assert re.findall(r'name="src-(\d+)"', page) == ["0", "1"]  # the filled row, a new one
    assert content(chain, "group", "kiosks") is None
    assert post(marketing, "/display/groups/kiosks", rows(
        ("image", IMAGE, "5"), ("url", "https://example.com/offers", ""),
        **{"remove-0": "on"}))[0] == 303
    assert content(chain, "group", "kiosks") == [
        {"kind": "url", "src": "https://example.com/offers", "seconds": 10}]


def test_only_marketing_and_admin_change_it(app: Flask, chain: Database,
                                           marketing: FlaskClient) -> None:
    make_user(chain, "petra", PRICING)
    with app.test_client() as client:
        sign_in(client, "petra")
        assert client.get("/display").status_code == 200
        assert post(client, "/display/groups/kiosks", rows(("image", IMAGE, "5")))[0] == 403
    assert content(chain, "group", "kiosks") is None
    assert marketing.get("/display/groups/nowhere").status_code == 404
    assert post(marketing, "/display/stores/nowhere", rows(("image", IMAGE, "5")))[0] == 404
