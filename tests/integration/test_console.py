"""The console's guard rails on real PostgreSQL, through Flask's client: signing in and out,
the idle timeout, CSRF, security headers, and every page route walked with every role."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from central.api.access import access_for
from central.console import BLUEPRINTS
from central.db import Database
from central.roles import ADMIN, ROLES
from central.services import (
    auth,
    cashiers,
    catalog,
    customers,
    import_jobs,
    instructions,
    loyalty_profiles,
    partners,
    policies,
    stores,
)
from tests.integration.test_ingest import batch, entry, ingest, sale

pytestmark = pytest.mark.integration

PASSWORD = "correct horse battery"


class Clock:
    def __init__(self) -> None:
        self.now = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def app_config(clock: Clock) -> dict[str, Any]:
    return {"CLOCK": clock, "SECRET_KEY": "test-secret"}


def make_user(db: Database, username: str, *roles: str) -> None:
    with db.transaction() as session:
        auth.create_user(session, username, roles or [ADMIN], PASSWORD,
                         dt.datetime.now(dt.UTC))


def csrf(client: FlaskClient, path: str = "/login") -> str:
    page = client.get(path).get_data(as_text=True)
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match, f"no CSRF token on {path}"
    return match.group(1)


def sign_in(client: FlaskClient, username: str, password: str = PASSWORD) -> FlaskClient:
    response = client.post("/login", data={"username": username, "password": password,
                                           "csrf_token": csrf(client)})
    assert response.status_code == 303, response.get_data(as_text=True)
    return client


@pytest.fixture
def signed_in(app: Flask, clean_pg_db: Database) -> Iterator[FlaskClient]:
    make_user(clean_pg_db, "boss")
    with app.test_client() as client:
        yield sign_in(client, "boss")


def test_pages_need_a_session_and_send_strangers_to_the_sign_in_page(app: Flask) -> None:
    client = app.test_client()
    response = client.get("/")
    assert response.status_code == 302 and response.headers["Location"] == "/login"
    response = client.get("/stores/kiosk-1")
    assert response.status_code == 302
    assert response.headers["Location"] == "/login?next=%2Fstores%2Fkiosk-1"
    # A bearer token does not open pages, and a cookie does not open the REST API.
    assert client.get("/api/v1/stores/").status_code == 401


def test_sign_in_sets_a_hardened_cookie_and_sign_out_ends_the_session(
        app: Flask, clean_pg_db: Database) -> None:
    make_user(clean_pg_db, "anna", "pricing")
    client = app.test_client()
    response = client.post("/login", data={"username": "anna", "password": PASSWORD,
                                           "csrf_token": csrf(client), "next": "/?group=x"})
    assert response.status_code == 303 and response.headers["Location"] == "/?group=x"
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
    page = client.get("/")
    assert page.status_code == 200 and "anna" in page.get_data(as_text=True)
    kept = client.get_cookie("tessera_console")
    assert kept is not None

    response = client.post("/logout", data={"csrf_token": csrf(client, "/")})
    assert response.status_code == 303 and response.headers["Location"] == "/login"
    assert client.get("/").status_code == 302
    # The copied cookie of the ended session opens nothing: its token is revoked.
    other = app.test_client()
    other.set_cookie(kept.key, kept.value)
    assert other.get("/").status_code == 302


def test_a_wrong_password_is_refused_and_counts_towards_the_lockout(
        app: Flask, clean_pg_db: Database) -> None:
    make_user(clean_pg_db, "anna")
    client = app.test_client()
    for _ in range(auth.LOCK_AFTER):
        response = client.post("/login", data={"username": "anna", "password": "wrong one!!",
                                               "csrf_token": csrf(client)})
        assert response.status_code == 200
        assert "Wrong username or password" in response.get_data(as_text=True)
    # locked now: even the right password fails
    response = client.post("/login", data={"username": "anna", "password": PASSWORD,
                                           "csrf_token": csrf(client)})
    assert response.status_code == 200 and client.get("/").status_code == 302


def test_the_next_page_after_sign_in_is_never_another_site(
        app: Flask, clean_pg_db: Database) -> None:
    make_user(clean_pg_db, "anna")
    client = app.test_client()
    for target in ("//evil.example/", "https://evil.example/", "/\\evil.example"):
        response = client.post("/login", data={"username": "anna", "password": PASSWORD,
                                               "csrf_token": csrf(client), "next": target})
        assert response.headers["Location"] == "/"


def test_a_session_idle_past_the_timeout_must_sign_in_again(
        signed_in: FlaskClient, clock: Clock) -> None:
    clock.now += dt.timedelta(minutes=29)
    assert signed_in.get("/").status_code == 200  # activity: the idle time starts again
    clock.now += dt.timedelta(minutes=29)
    # the dashboard's own polling is no activity
    assert signed_in.get("/", headers={"HX-Request": "true",
                                       "HX-Trigger": "fleet-live"}).status_code == 200
    clock.now += dt.timedelta(minutes=2)
    response = signed_in.get("/")
    assert response.status_code == 302 and response.headers["Location"] == "/login"


def test_a_form_without_its_csrf_token_is_refused(signed_in: FlaskClient) -> None:
    assert signed_in.post("/logout").status_code == 403
    assert signed_in.post("/logout", data={"csrf_token": "forged"}).status_code == 403
    assert signed_in.get("/").status_code == 200  # still signed in: nothing happened
    anonymous = signed_in.application.test_client()
    response = anonymous.post("/login", data={"username": "boss", "password": PASSWORD})
    assert response.status_code == 403


def test_pages_carry_the_security_headers(signed_in: FlaskClient) -> None:
    response = signed_in.get("/")
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    body = response.get_data(as_text=True)
    assert "<script>" not in body and " style=" not in body


def test_the_assets_come_from_central_not_a_cdn(app: Flask) -> None:
    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    assert "http://" not in page and "https://" not in page
    for path in ("/assets/vendor/htmx.min.js", "/assets/vendor/pico.min.css",
                 "/assets/console/console.css"):
        with client.get(path) as response:
            assert response.status_code == 200, f"{path}: run scripts/bootstrap.sh"
            assert len(response.data) > 1000 or path.endswith("console.css")
    assert client.get("/assets/vendor/package.json").status_code == 404


def test_languages_from_the_browser_or_the_users_choice(app: Flask) -> None:
    client = app.test_client()
    page = client.get("/login", headers={"Accept-Language": "it-IT,it;q=0.9"})
    assert "Accedi" in page.get_data(as_text=True)
    page = client.get("/login", headers={"Accept-Language": "fr"})
    assert "Se connecter" in page.get_data(as_text=True)
    client.post("/language", data={"language": "ro", "csrf_token": csrf(client)})
    page = client.get("/login", headers={"Accept-Language": "fr"})
    assert 'lang="ro"' in page.get_data(as_text=True)


def test_the_users_own_language_comes_before_the_browsers(
        app: Flask, clean_pg_db: Database) -> None:
    from central.console.i18n import LANGUAGES
    from central.models import User

    assert tuple(LANGUAGES) == auth.LANGUAGES  # the profile takes what the console offers
    make_user(clean_pg_db, "boss")
    make_user(clean_pg_db, "giulia", "read-only")
    french = {"Accept-Language": "fr"}

    def language_of(username: str) -> str | None:
        with clean_pg_db.sessions() as session:
            return session.query(User).filter_by(username=username).one().language

    with app.test_client() as admin:
        sign_in(admin, "boss")
        token = csrf(admin, "/users/giulia")
        response = admin.post("/users/giulia", data={"csrf_token": token, "roles": "read-only",
                                                     "active": "on", "language": "it"})
        assert response.status_code == 303
        assert 'value="it" selected' in admin.get("/users/giulia").get_data(as_text=True)
        refused = admin.post("/users/giulia", data={"csrf_token": token, "roles": "read-only",
                                                    "active": "on", "language": "xx"})
        assert refused.status_code == 422 and language_of("giulia") == "it"
    with app.test_client() as browser:
        assert 'lang="fr"' in browser.get("/login", headers=french).get_data(as_text=True)
        response = browser.post("/login", headers=french, data={
            "username": "giulia", "password": PASSWORD,
            "csrf_token": csrf(browser)})
        assert response.status_code == 303
        page = browser.get("/sales", headers=french).get_data(as_text=True)
        assert 'lang="it"' in page and "Vendite" in page  # her profile, not the browser
        # She switches to Romanian while signed in: her profile keeps it.
        browser.post("/language", headers=french, data={
            "language": "ro", "csrf_token": csrf(browser, "/sales")})
        assert language_of("giulia") == "ro"
    with app.test_client() as elsewhere:  # another browser, another day
        elsewhere.post("/login", headers=french, data={
            "username": "giulia", "password": PASSWORD, "csrf_token": csrf(elsewhere)})
        assert 'lang="ro"' in elsewhere.get("/sales", headers=french).get_data(as_text=True)
    # A user without a language of their own gets the browser's, and choosing one while
    # signed out changes no profile.
    with app.test_client() as other:
        other.post("/language", data={"language": "it", "csrf_token": csrf(other)})
        other.post("/login", headers=french, data={
            "username": "boss", "password": PASSWORD, "csrf_token": csrf(other)})
        assert 'lang="it"' in other.get("/sales", headers=french).get_data(as_text=True)
    assert language_of("boss") is None


# -- every page route, every role, no session ---------------------------------------------

def page_rules(app: Flask, extra: dict[str, str]) -> list[tuple[str, str]]:
    """(URL with sample arguments, endpoint) of every GET route of the console."""
    names = {bp.name for bp in BLUEPRINTS}
    samples = {"code": "kiosk-1", "sku": "SKU-1", "name": "htmx.min.js", "username": "user-admin",
               "filename": "console.css", "fmt": "csv", **extra}
    result = []
    for rule in app.url_map.iter_rules():
        blueprint = rule.endpoint.partition(".")[0]
        if blueprint in names and "GET" in (rule.methods or ()):
            # the catalogue's reference lists take a kind where the assets take a file name
            kinds = ["categories", "brands", "families"] \
                if blueprint == "console-references" else [samples["name"]]
            for kind in kinds:
                url = rule.rule
                for arg in rule.arguments:
                    value = kind if arg == "name" else samples[arg]
                    url = re.sub(rf"<(?:[a-z]+:)?{arg}>", value, url)
                result.append((url, rule.endpoint))
    return result


def test_every_page_has_an_access_entry(app: Flask) -> None:
    names = {bp.name for bp in BLUEPRINTS}
    for rule in app.url_map.iter_rules():
        if rule.endpoint.partition(".")[0] in names and rule.rule not in ("/login",
                                                                          "/language"):
            assert access_for(rule.endpoint) is not None, rule.rule


def test_every_page_route_with_every_role_and_none(app: Flask, clean_pg_db: Database) -> None:
    with clean_pg_db.transaction() as session:
        stores.create_store(session, "kiosk-1", "Kiosk")
        stores.create_group(session, "kiosk-1", "Kiosks")  # the display page of a group
        catalog.create_product(session, {"sku": "SKU-1", "name": "Tea", "vat_rate": Decimal(
            "10"), "sale_price": Decimal("2.50"), "barcodes": ["4006381333931"]})
        loyalty_profiles.create_profile(session, "kiosk-1", {
            "description": "Standard", "card_prefix": "29", "discount_percent": Decimal(0)},
            dt.datetime.now(dt.UTC))
    sale_uuid = "6f1c2b1e-0000-4000-8000-000000000001"
    ingest(clean_pg_db, batch(entry(1, sale(1, sale_uuid, lines=[{
        "sku": "SKU-1", "barcode": "4006381333931", "name": "<b>Bread</b>", "qty": "2",
        "unit_price": "1.15", "amount": "2.30", "vat_rate": "9.00",
        "adjustments": [{"kind": "discount", "reason": "staff"}]}]))))
    with clean_pg_db.transaction() as session:
        cashiers.create(session, "anna", "Anna <b>Rossi</b>", "4711", ["kiosk-1"])
        someone = customers.create(session, {"first_name": "<i>Ana</i>",
                                             "observation": "Pays late"}).id
        note = instructions.create(session, "<b>Check</b> the yoghurts", stores=["kiosk-1"])
        policies.create(session, "sales_rule", {"code": "kiosk-1", "name": "Rule",
                                                "percent": "5"})
        partners.create_programme(session, {"code": "kiosk-1", "name": "Union",
                                            "percent": "5"})
        job = import_jobs.create(session, kind=import_jobs.CUSTOMERS, programme=None,
                                 filename="customers.csv", author=None).id
    routes = page_rules(app, {"uuid": sale_uuid, "cashier_code": "anna", "job_id": job,
                              "customer_id": someone, "customer": someone,
                              "instruction_id": str(note.id), "scope": "kiosk-1"})
    assert len(routes) >= 3
    assert {"/display", "/display/stores/kiosk-1", "/display/groups/kiosk-1"} <= {
        url for url, _endpoint in routes}
    anonymous = app.test_client()
    for url, _endpoint in routes:
        with anonymous.get(url) as response:
            response.get_data()
        if url == "/login":
            assert response.status_code == 200
            continue
        assert response.status_code == 302, url
        assert response.headers["Location"].startswith("/login"), url
    for role in ROLES:
        make_user(clean_pg_db, f"user-{role}", role)
        with app.test_client() as client:
            sign_in(client, f"user-{role}")
            for url, endpoint in routes:
                with client.get(url) as response:  # exports stream: close them
                    response.get_data()
                access = access_for(endpoint)
                allowed = url == "/login" or (
                    access is not None and auth.may({role}, access.roles_for("GET")))
                assert response.status_code == (200 if allowed else 403), (role, url)


# -- catalogue: keyset pages, the form's checks, exports -------------------------------------

def add_products(db: Database, names: list[str]) -> None:
    with db.transaction() as session:
        for i, name in enumerate(names):
            catalog.create_product(session, {"sku": f"P-{i:04d}", "name": name,
                                             "vat_rate": Decimal("22"),
                                             "sale_price": Decimal("1.00")})


def walk(client: FlaskClient, url: str) -> list[str]:
    """The SKUs of every page, following the 'Next page' links."""
    skus: list[str] = []
    while url:
        page = client.get(url).get_data(as_text=True)
        skus += re.findall(r'<tr data-sku="([^"]+)"', page)
        found = re.search(r'<a href="([^"]+)" rel="next"', page)
        url = found.group(1).replace("&amp;", "&") if found else ""
    return skus


def test_the_product_list_pages_by_keyset_in_every_sort(
        signed_in: FlaskClient, clean_pg_db: Database) -> None:
    names = [f"{'Tea' if i % 3 else 'Coffee'} {i % 7}" for i in range(120)]  # many ties
    add_products(clean_pg_db, names)
    by_name = sorted(((n, f"P-{i:04d}") for i, n in enumerate(names)))
    assert walk(signed_in, "/products") == [f"P-{i:04d}" for i in range(120)]
    assert walk(signed_in, "/products?sort=-sku") == [f"P-{i:04d}" for i in range(119, -1, -1)]
    assert walk(signed_in, "/products?sort=name") == [sku for _, sku in by_name]
    assert walk(signed_in, "/products?sort=-name") == [sku for _, sku in reversed(by_name)]
    coffee = walk(signed_in, "/products?q=coffee&sort=name")
    assert coffee == [sku for n, sku in by_name if n.startswith("Coffee")]
    response = signed_in.get("/products?after=not-a-cursor")
    assert response.status_code == 422


def test_the_product_form_refuses_what_the_api_refuses(signed_in: FlaskClient) -> None:
    token = csrf(signed_in, "/products/new")
    response = signed_in.post("/products/new", data={
        "csrf_token": token, "sku": "bad sku!", "name": "Tea", "vat_rate": "22",
        "sale_price": "1.999", "barcodes": "4006381333932"})
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert 'id="sku-error"' in page and 'id="sale_price-error"' in page
    response = signed_in.post("/products/new", data={
        "csrf_token": token, "sku": "TEA", "name": "Tea", "vat_rate": "22",
        "sale_price": "1.99", "barcodes": "4006381333932", "active": "on"})
    assert response.status_code == 422 and "check digit" in response.get_data(as_text=True)
    assert walk(signed_in, "/products") == []  # nothing saved
    response = signed_in.post("/products/new", data={
        "csrf_token": token, "sku": "TEA", "name": "Tea", "vat_rate": "22",
        "sale_price": "1.99", "barcodes": "4006381333931", "points_generated": "-2"})
    assert response.status_code == 422 and 'id="points_generated-error"' in \
        response.get_data(as_text=True)
    response = signed_in.post("/products/new", data={
        "csrf_token": token, "sku": "TEA", "name": "Tea", "vat_rate": "22",
        "sale_price": "1.99", "barcodes": "4006381333931", "active": "on",
        "points_generated": "1.5"})
    assert response.status_code == 303
    assert walk(signed_in, "/products") == ["TEA"]
    assert 'name="points_generated" value="1.50"' in signed_in.get("/products/TEA") \
        .get_data(as_text=True)
    response = signed_in.post("/products/TEA", data={  # emptied: the product brings none
        "csrf_token": token, "name": "Tea", "vat_rate": "22", "sale_price": "1.99",
        "barcodes": "4006381333931", "active": "on", "points_generated": ""})
    assert response.status_code == 303
    assert 'name="points_generated" value=""' in signed_in.get("/products/TEA") \
        .get_data(as_text=True)


def test_exports_neutralise_formulas(signed_in: FlaskClient, clean_pg_db: Database) -> None:
    import io

    from openpyxl import load_workbook

    add_products(clean_pg_db, ["=HYPERLINK(\"http://evil\")", "+1", "Plain"])
    with signed_in.get("/products/export.csv") as response:
        assert response.status_code == 200
        text = response.get_data(as_text=True)
    lines = text.lstrip("\ufeff").splitlines()
    assert lines[0].startswith("sku,name,")
    assert lines[1].startswith("P-0000,\"'=HYPERLINK(") and lines[2].startswith("P-0001,'+1,")
    with signed_in.get("/products/export.xlsx") as response:
        sheet = load_workbook(io.BytesIO(response.data)).active
    rows = list(sheet.iter_rows(values_only=True))
    # XLSX: the exact text, as a string cell (never a formula, no apostrophe added).
    assert rows[1][1] == "=HYPERLINK(\"http://evil\")" and rows[2][1] == "+1"
    assert sheet.cell(row=2, column=2).data_type == "s"
    assert rows[3][1] == "Plain" and rows[3][8] == 1  # numbers stay numbers


def test_every_list_exports_what_it_shows_as_csv_and_excel(
        signed_in: FlaskClient, clean_pg_db: Database) -> None:
    import io

    from openpyxl import load_workbook

    with clean_pg_db.transaction() as session:
        stores.create_group(session, "north", "North")
        stores.create_store(session, "kiosk-1", "=cmd|' /C calc'!A0", "north")
        stores.create_store(session, "market", "Market")
        cashiers.create(session, "ann", "@SUM(1+1)", "1234", ["kiosk-1"])
    ingest(clean_pg_db, batch(entry(1, sale(1, "6f1c2b1e-0000-4000-8000-000000000009",
                                            store="kiosk-1", cashier="-2+3"))))
    make_user(clean_pg_db, "lisa", "read-only")  # (a username cannot start like a formula)
    expected = {  # list page -> (first header, a formula-like text it must hold, rows)
        "/stores?group=north": ("code", "=cmd|' /C calc'!A0", 1),
        "/cashiers": ("code", "@SUM(1+1)", 1),
        "/sales?cashier=-2%2B3": ("uuid", "-2+3", 1),
        "/users": ("username", "", 2),
        "/?group=north": ("store", "=cmd|' /C calc'!A0", 1)}
    for page_url, (first, formula, count) in expected.items():
        page = signed_in.get(page_url).get_data(as_text=True)
        links = re.findall(r'<a href="([^"]+)" download>', page)
        assert len(links) == 2, page_url
        csv_url, xlsx_url = (link.replace("&amp;", "&") for link in links)
        with signed_in.get(csv_url) as response:
            assert response.status_code == 200, csv_url
            assert response.headers["Content-Type"].startswith("text/csv")
            lines = response.get_data(as_text=True).lstrip("\ufeff").splitlines()
        assert lines[0].split(",")[0] == first and len(lines) == count + 1, (csv_url, lines)
        if not formula:
            assert lines[1].startswith("boss,admin,true,true,") and lines[2].startswith(
                "lisa,read-only,true,true,"), lines
            continue
        assert "'" + formula in "\n".join(lines), csv_url  # neutralised in CSV
        with signed_in.get(xlsx_url) as response:
            assert response.status_code == 200, xlsx_url
            sheet = load_workbook(io.BytesIO(response.data)).active
        rows = list(sheet.iter_rows(values_only=True))
        assert rows[0][0] == first and len(rows) == count + 1, xlsx_url
        cells = [cell for row in sheet.iter_rows(min_row=2) for cell in row
                 if cell.value == formula]
        assert cells and all(c.data_type == "s" for c in cells), xlsx_url  # text, exact
    assert signed_in.get("/stores/export.pdf").status_code == 404


def test_a_sale_page_shows_its_lines_adjustments_and_store(
        signed_in: FlaskClient, clean_pg_db: Database) -> None:
    with clean_pg_db.transaction() as session:
        stores.create_store(session, "kiosk-1", "Kiosk")
    sale_uuid = "6f1c2b1e-0000-4000-8000-000000000002"
    ingest(clean_pg_db, batch(entry(1, sale(1, sale_uuid, lines=[{
        "sku": "SKU-1", "barcode": "4006381333931", "name": "<b>Bread</b>", "qty": "2",
        "unit_price": "1.15", "amount": "2.30", "vat_rate": "9.00",
        "adjustments": [{"kind": "discount", "reason": "staff"}]}]))))
    listing = signed_in.get("/sales?store=kiosk-1").get_data(as_text=True)
    assert f'href="/sales/{sale_uuid}"' in listing and "€2.30" in listing
    page = signed_in.get(f"/sales/{sale_uuid}").get_data(as_text=True)
    assert "&lt;b&gt;Bread&lt;/b&gt;" in page and "<b>Bread" not in page
    assert "reason: staff" in page
    assert signed_in.get("/sales/no-such-sale").status_code == 404


def test_the_sales_list_pages_by_keyset_and_filters_by_amount_and_cashier(
        signed_in: FlaskClient, clean_pg_db: Database) -> None:
    with clean_pg_db.transaction() as session:
        stores.create_store(session, "kiosk-1", "Kiosk")
    entries = []
    for n in range(1, 121):  # 120 sales, a minute apart; totals 1.00..120.00
        total = f"{n}.00"
        entries.append(entry(n, sale(
            n, f"6f1c2b1e-0000-4000-8000-{n:012d}", cashier="ann" if n % 3 else "bob",
            created_at=f"2026-11-22T{8 + n // 60:02d}:{n % 60:02d}:00+00:00", total=total,
            lines=[{"sku": "SKU-1", "barcode": None, "name": "Bread", "qty": "1",
                    "unit_price": total, "amount": total, "vat_rate": "9.00"}],
            vat=[], payments=[{"method": "cash", "amount": total}])))
    ingest(clean_pg_db, batch(*entries))

    def numbers(page: str) -> list[int]:
        return [int(n) for n in re.findall(r'href="/sales/[^"]+">(\d+)</a>', page)]

    seen, url, pages = [], "/sales", 0
    while url:
        page = signed_in.get(url).get_data(as_text=True)
        assert "120 sales" in page
        seen += numbers(page)
        found = re.search(r'<a href="([^"]+)" rel="next">', page)
        url = found.group(1).replace("&amp;", "&") if found else ""
        pages += 1
    assert pages == 3 and seen == list(range(120, 0, -1))  # newest first, each sale once

    page = signed_in.get("/sales?cashier=bob&min_total=30&max_total=45,00").get_data(
        as_text=True)
    assert numbers(page) == [45, 42, 39, 36, 33, 30] and "6 sales" in page
    page = signed_in.get("/sales?min_total=not-a-number&cashier=nobody").get_data(as_text=True)
    assert numbers(page) == [] and "0 sales" in page
    # A cursor edited by hand is not an error page: the list starts again.
    assert numbers(signed_in.get("/sales?after=garbage").get_data(as_text=True))[0] == 120


def test_a_bulk_change_applies_only_what_its_preview_showed(
        signed_in: FlaskClient, clean_pg_db: Database) -> None:
    with clean_pg_db.transaction() as session:
        catalog.create_category(session, "drinks", "Drinks")
        for i, name in enumerate(["Tea", "Coffee"]):
            catalog.create_product(session, {"sku": f"P-{i:04d}", "name": name,
                                             "category": "drinks", "vat_rate": Decimal("22"),
                                             "sale_price": Decimal("1.00")})
    form = {"csrf_token": csrf(signed_in, "/prices/bulk"), "field": "sale_price",
            "mode": "percent", "value": "10"}
    unselected = signed_in.post("/prices/bulk", data={**form, "action": "preview"})
    assert unselected.status_code == 422
    assert "choose products by category" in unselected.get_data(as_text=True)
    form["category"] = "drinks"
    preview = signed_in.post("/prices/bulk", data={**form, "action": "preview"})
    page = preview.get_data(as_text=True)
    assert preview.status_code == 200 and page.count("€1.10") == 2
    expected = re.search(r'name="expected" value="([0-9a-f]+)"', page)
    assert expected
    with clean_pg_db.transaction() as session:  # someone edits a product meanwhile
        catalog.update_product(session, "P-0001", {"sale_price": Decimal("3.00")})
    stale = signed_in.post("/prices/bulk", data={**form, "action": "apply",
                                                 "expected": expected.group(1)})
    assert stale.status_code == 409 and "€3.30" in stale.get_data(as_text=True)
    with clean_pg_db.sessions() as session:
        assert catalog.get_product(session, "P-0000").sale_price == Decimal("1.00")
    fresh = re.search(r'name="expected" value="([0-9a-f]+)"', stale.get_data(as_text=True))
    assert fresh
    done = signed_in.post("/prices/bulk", data={**form, "action": "apply",
                                                "expected": fresh.group(1)})
    assert done.status_code == 200 and "2 prices changed" in done.get_data(as_text=True)
    with clean_pg_db.sessions() as session:
        assert catalog.get_product(session, "P-0000").sale_price == Decimal("1.10")
        assert catalog.get_product(session, "P-0001").sale_price == Decimal("3.30")


def test_categories_form_a_tree_and_refuse_a_loop(signed_in: FlaskClient) -> None:
    token = csrf(signed_in, "/catalogue/categories")
    for code, parent in (("food", ""), ("dairy", "food"), ("cheese", "dairy")):
        response = signed_in.post("/catalogue/categories", data={
            "csrf_token": token, "code": code, "name": code.title(), "parent": parent})
        assert response.status_code == 303
    page = signed_in.get("/catalogue/categories").get_data(as_text=True)
    assert re.findall(r'data-code="([a-z]+)" class="depth-(\d)"', page) == [
        ("food", "0"), ("dairy", "1"), ("cheese", "2")]
    loop = signed_in.post("/catalogue/categories/food", data={
        "csrf_token": token, "name": "Food", "parent": "cheese", "active": "on"})
    assert loop.status_code == 422 and "children" in loop.get_data(as_text=True)
    bad = signed_in.post("/catalogue/brands", data={"csrf_token": token, "code": "no spaces",
                                                    "name": "X"})
    assert bad.status_code == 422
    assert signed_in.get("/catalogue/nothing").status_code == 404


def test_an_admin_makes_a_user_and_a_token_that_works_until_revoked(
        signed_in: FlaskClient) -> None:
    token = csrf(signed_in, "/users")
    response = signed_in.post("/users", data={"csrf_token": token, "username": "robot",
                                              "roles": ["pricing", "marketing"]})
    assert response.status_code == 303 and response.headers["Location"] == "/users/robot"
    page = signed_in.post("/users/robot/tokens", data={"csrf_token": token, "name": "etl"})
    secret = re.search(r"<code data-token>(tsr_[^<]+)</code>", page.get_data(as_text=True))
    assert secret
    api = signed_in.application.test_client()
    bearer = {"Authorization": f"Bearer {secret.group(1)}"}
    assert api.get("/api/v1/products/", headers=bearer).status_code == 200
    assert secret.group(1) not in signed_in.get("/users/robot").get_data(as_text=True)
    token_id = re.search(r'data-token-id="(\d+)"',
                         signed_in.get("/users/robot").get_data(as_text=True))
    assert token_id
    signed_in.post(f"/users/robot/tokens/{token_id.group(1)}/revoke",
                   data={"csrf_token": token})
    assert api.get("/api/v1/products/", headers=bearer).status_code == 401
    # the last admin cannot take away their own admin role
    response = signed_in.post("/users/boss", data={"csrf_token": token, "roles": ["pricing"],
                                                   "active": "on"})
    assert response.status_code == 409 and "last active admin" in response.get_data(
        as_text=True)
