"""The console's discount pages on real PostgreSQL: policies made and changed through their
forms, partner programmes with a member list imported from a file (and its rejected rows
reported), VIP cards."""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal

import pytest
from flask.testing import FlaskClient

from central.db import Database
from central.models import Change, PartnerCard
from central.services import catalog, partners, policies, stores
from tests.integration import test_console as console
from tests.integration.test_console import csrf
from tests.support import wait_until

pytestmark = pytest.mark.integration

app_config, clock, signed_in = console.app_config, console.clock, console.signed_in


@pytest.fixture
def chain(clean_pg_db: Database) -> Database:
    with clean_pg_db.transaction() as session:
        stores.create_group(session, "north", "North")
        stores.create_store(session, "kiosk-1", "Kiosk", "north")
        catalog.create_category(session, "tobacco", "Tobacco")
    return clean_pg_db


def test_policies_are_made_changed_and_deactivated_through_their_forms(
        signed_in: FlaskClient, chain: Database) -> None:
    token = csrf(signed_in, "/policies")
    bad = signed_in.post("/policies", data={
        "csrf_token": token, "code": "R1", "kind": "sales_rule", "name": "Spring",
        "percent": "0", "target_kind": "category", "target_codes": "nothing"})
    page = bad.get_data(as_text=True)
    assert bad.status_code == 422 and "must be more than 0" in page
    assert "no category &#39;nothing&#39;" in page
    done = signed_in.post("/policies", data={
        "csrf_token": token, "code": "R1", "kind": "sales_rule", "name": "Spring",
        "percent": "7,5", "groups": "north", "start": "2026-04-01T00:00"})
    assert done.status_code == 303 and done.headers["Location"] == "/policies/R1"
    promo = signed_in.post("/policies", data={
        "csrf_token": token, "code": "P3x2", "kind": "promotion", "name": "3 for 2",
        "promotion": "quantity", "buy": "2", "get": "1", "percent": "100",
        "target_kind": "all"})
    assert promo.status_code == 303
    excl = signed_in.post("/policies", data={
        "csrf_token": token, "code": "NO-TOBACCO", "kind": "exclusion", "name": "Tobacco",
        "target_kind": "category", "target_codes": "tobacco"})
    assert excl.status_code == 303
    with chain.sessions() as session:
        rule = policies.wire(policies.get(session, "R1"))
        assert (rule["percent"], rule["groups"], rule["period"]["start"]) == (
            "7.50", ["north"], "2026-04-01T00:00:00+00:00")
        assert policies.wire(policies.get(session, "P3x2"))["buy"] == 2
    listing = signed_in.get("/policies?kind=promotion").get_data(as_text=True)
    assert 'data-policy="P3x2"' in listing and 'data-policy="R1"' not in listing
    page = signed_in.get("/policies/R1").get_data(as_text=True)
    assert 'value="7.50"' in page and 'value="2026-04-01T00:00"' in page
    edited = signed_in.post("/policies/R1", data={
        "csrf_token": token, "name": "Spring", "percent": "10", "groups": "north",
        "start": "2026-04-01T00:00"})
    assert edited.status_code == 200 and "Saved" in edited.get_data(as_text=True)
    assert signed_in.post("/policies/R1/deactivate", data={"csrf_token": token}
                          ).status_code == 303
    with chain.sessions() as session:
        rule_row = policies.get(session, "R1")
        assert (rule_row.version, rule_row.active) == (3, False)
        # What the stores receive: every version on the policies stream.
        sent = [json.loads(c.data) for c in session.query(Change).filter(
            Change.stream == "policies", Change.key == "R1").order_by(Change.version)]
    assert [(d["version"], d["percent"], d["active"]) for d in sent] == [
        (1, "7.50", True), (2, "10.00", True), (3, "10.00", False)]


CARDS = ("number,first,last,holder\n"
         "11112222,,,Ada\n"
         ",50000000,50000999,Staff range\n"
         "12,,,Too short\n"
         "11112222,,,Ada\n"
         ",60000000,5999,Bad range\n"
         "=HYPERLINK(1),,,Formula\n")


def test_a_member_list_is_checked_then_imported_with_a_report_of_rejected_rows(
        signed_in: FlaskClient, chain: Database) -> None:
    token = csrf(signed_in, "/partners")
    made = signed_in.post("/partners", data={"csrf_token": token, "code": "UNION",
                                             "name": "Union card", "percent": "5",
                                             "stores": "kiosk-1"})
    assert made.status_code == 303 and made.headers["Location"] == "/partners/UNION"

    page = signed_in.get("/partners/UNION").get_data(as_text=True)
    assert 'action="/imports"' in page and 'name="programme" value="UNION"' in page

    def upload(action: str) -> tuple[str, str]:
        """The import started from the programme's page: its finished page and its id."""
        response = signed_in.post("/imports", data={
            "csrf_token": token, "action": action, "kind": "partner-members",
            "programme": "UNION", "file": (io.BytesIO(CARDS.encode()), "members.csv")},
            content_type="multipart/form-data")
        assert response.status_code == 303, response.get_data(as_text=True)
        location = response.headers["Location"]
        # the page polls its progress fragment (htmx) until the import is over
        fragment = wait_until(lambda: (lambda text: text if 'data-state="done"' in text
                                       else None)(signed_in.get(
                                           location, headers={"HX-Request": "true"})
                                           .get_data(as_text=True)), 30, interval=0.1,
                              what="the import finished")
        assert "<html" not in str(fragment) and "hx-trigger" not in str(fragment)
        return signed_in.get(location).get_data(as_text=True), location

    checked, _ = upload("check")
    assert "Checked (nothing written)" in checked
    assert "6 rows: 2 new, 0 updated, 1 unchanged, 3 rejected" in checked
    with chain.sessions() as session:
        assert session.query(PartnerCard).count() == 0
    imported, location = upload("import")
    assert "6 rows: 2 new, 0 updated, 1 unchanged, 3 rejected" in imported
    report = signed_in.get(f"{location}/report.csv").get_data(as_text=True)
    lines = list(csv.reader(io.StringIO(report.lstrip("\ufeff"))))
    assert [r[0] for r in lines] == ["line", "4", "6", "7"]  # each with its reason and row
    assert "4 to 32 letters or digits" in lines[1][1] and lines[3][2] == "'=HYPERLINK(1)"
    again, _ = upload("import")
    assert "6 rows: 0 new, 0 updated, 3 unchanged, 3 rejected" in again
    with chain.sessions() as session:
        cards, total = partners.list_cards(session, "UNION", 1, 10)
    assert total == 2 and {(c.first, c.last) for c in cards} == {
        ("11112222", "11112222"), ("50000000", "50000999")}
    page = signed_in.get("/partners/UNION?number=50000500").get_data(as_text=True)
    assert 'data-card="50000000"' in page and 'data-card="11112222"' not in page
    assert signed_in.post("/partners/UNION/cards/remove", data={
        "csrf_token": token, "first": "11112222", "last": "11112222"}).status_code == 303
    with chain.sessions() as session:
        assert not partners.get_card(session, "UNION", "11112222").active
    broken = signed_in.post("/imports", data={
        "csrf_token": token, "kind": "partner-members", "programme": "UNION",
        "file": (io.BytesIO(b"PK\x03\x04 nope"), "m.xlsx")}, content_type="multipart/form-data")
    failed = wait_until(lambda: (lambda text: text if 'data-state="failed"' in text else None)(
        signed_in.get(broken.headers["Location"]).get_data(as_text=True)), 30, interval=0.1,
        what="the import failed")
    assert "Failed" in str(failed) and "the file cannot be read" in str(failed), failed
    refused = signed_in.post("/imports", data={"csrf_token": token, "kind": "partner-members",
                                               "programme": "NOPE"})
    assert refused.status_code == 422 and "no partner programme" in refused.get_data(
        as_text=True)
    assert signed_in.get("/imports?kind=partner-members&programme=NOPE").status_code == 404


def test_vip_cards_are_issued_and_deactivated(signed_in: FlaskClient, chain: Database,
                                              clock: console.Clock) -> None:
    token = csrf(signed_in, "/vip")
    past = signed_in.post("/vip", data={"csrf_token": token, "code": "#VIP#1",
                                        "customer": "Ada", "percent": "10",
                                        "valid_until": "2020-01-01T00:00"})
    assert past.status_code == 422 and "must be in the future" in past.get_data(as_text=True)
    made = signed_in.post("/vip", data={"csrf_token": token, "code": "#VIP#1",
                                        "customer": "Ada", "percent": "10",
                                        "valid_until": "2027-01-01T00:00",
                                        "notify": "ada@example.com"})
    assert made.status_code == 303
    page = signed_in.get("/vip").get_data(as_text=True)
    assert 'data-vip="#VIP#1"' in page and 'action="/vip/%23VIP%231/deactivate"' in page
    assert signed_in.post("/vip/%23VIP%231/deactivate", data={"csrf_token": token}
                          ).status_code == 303
    with chain.sessions() as session:
        card = partners.get_vip(session, "#VIP#1")
        assert (card.active, card.percent) == (False, Decimal("10"))


def test_the_new_pages_speak_italian(signed_in: FlaskClient, chain: Database) -> None:
    signed_in.post("/language", data={"language": "it", "csrf_token": csrf(signed_in, "/vip")})
    for url, label in (("/policies", "Politiche di sconto"), ("/partners", "Programmi partner"),
                       ("/vip", "Carte VIP"), ("/prices", "Nuovo prezzo"),
                       ("/prices/file", "Nuovi prezzi da un file"),
                       ("/receipts", "Profili dello scontrino")):
        assert label in signed_in.get(url).get_data(as_text=True), url
