"""/api/v1/imports: a file uploaded, imported in the background, followed at its id; the
report lists exactly the rejected rows; bad input is a 4xx naming the field; access."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from central.db import Database
from central.models import Change, Customer, ImportJob
from central.services import customers, partners
from central.services.auth import CUSTOMER_SERVICE, MARKETING, PRICING
from tests.integration.test_customers import card
from tests.support import wait_until

pytestmark = pytest.mark.integration

ROWS = 300
BAD = {50: ("12", "number '12'"), 150: ("bad-mobile", "mobile:"),
       250: ("bad-email", "email:")}


@pytest.fixture
def db(clean_pg_db: Database) -> Database:
    with clean_pg_db.transaction() as session:
        partners.create_programme(session, {"code": "ABCDEF", "name": "Union card",
                                            "percent": "5"})
    return clean_pg_db


def member_list() -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["number", "holder", "mobile", "email"])
    for n in range(ROWS):
        row = [f"6{n:07d}", f"Membru {n}", f"+40 722 {n:06d}", f"m{n}@example.ro"]
        if n == 50:
            row[0] = "12"
        elif n == 150:
            row[2] = "12"
        elif n == 250:
            row[3] = "not-an-address"
        writer.writerow(row)
    return out.getvalue().encode()


def upload(client: FlaskClient, data: bytes, name: str = "members.csv",
           **form: str) -> Any:
    return client.post("/api/v1/imports/", data={**form, "file": (io.BytesIO(data), name)},
                       content_type="multipart/form-data")


def finished(client: FlaskClient, job_id: str) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        body: dict[str, Any] = client.get(f"/api/v1/imports/{job_id}").get_json()
        return body if body["state"] in ("done", "failed") else None

    return wait_until(done, 60, interval=0.1, what="the import finished")  # type: ignore[return-value]


def count(db: Database, model: Any) -> int:
    with db.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_a_member_list_imports_in_the_background_with_its_report_and_again_changes_nothing(
        client: FlaskClient, db: Database) -> None:
    started = upload(client, member_list(), kind="partner-members", programme="ABCDEF")

    assert started.status_code == 202, started.get_json()
    job = started.get_json()
    assert job["state"] in ("queued", "running", "done") and job["kind"] == "partner-members"
    assert started.headers["Location"] == f"/api/v1/imports/{job['id']}"
    done = finished(client, job["id"])
    good = ROWS - len(BAD)
    assert (done["state"], done["rows"], done["accepted"], done["rejected"],
            done["created"], done["percent"], done["error"]) == (
        "done", ROWS, good, len(BAD), good, 100, None)
    report = client.get(f"/api/v1/imports/{job['id']}/report")
    assert report.status_code == 200 and report.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(report.get_data(as_text=True).lstrip("\ufeff"))))
    assert rows[0] == ["line", "reason", "number", "holder", "mobile", "email"]
    assert [int(r[0]) for r in rows[1:]] == [n + 2 for n in sorted(BAD)]
    for row, n in zip(rows[1:], sorted(BAD), strict=True):
        assert row[1].startswith(BAD[n][1]), row
    assert count(db, Customer) == good
    with db.sessions() as session:
        member = customers.find(session, card="60000007")
        assert member is not None and member.last_name == "Membru 7"
    before = count(db, Change)

    again = finished(client, upload(client, member_list(), kind="partner-members",
                                    programme="ABCDEF").get_json()["id"])

    assert (again["state"], again["unchanged"], again["rejected"]) == ("done", good, len(BAD))
    assert count(db, Change) == before
    listed = client.get("/api/v1/imports/").get_json()
    assert [j["id"] for j in listed][:2] == [again["id"], job["id"]]


def test_a_customers_file_and_one_that_cannot_be_read(client: FlaskClient,
                                                      db: Database) -> None:
    text = f"external_id;last_name;card\nA;Rossi;{card(1)}\nB;Bianchi;{card(2)[:-1]}0\n"
    done = finished(client, upload(client, text.encode(), "people.csv",
                                   kind="customers").get_json()["id"])
    assert (done["state"], done["created"], done["rejected"]) == ("done", 1, 1)
    report = client.get(f"/api/v1/imports/{done['id']}/report").get_data(as_text=True)
    assert "\r\n3,card: " in report or "\n3,card: " in report
    broken = finished(client, upload(client, b"PK\x03\x04 not really a workbook", "x.xlsx",
                                     kind="customers").get_json()["id"])
    assert broken["state"] == "failed" and broken["error"], broken


@pytest.mark.parametrize(("form", "name", "field"), [
    ({}, "m.csv", "kind"),
    ({"kind": "everything"}, "m.csv", "kind"),
    ({"kind": "partner-members"}, "m.csv", "programme"),
    ({"kind": "partner-members", "programme": "NOPE"}, "m.csv", "programme"),
    ({"kind": "customers", "programme": "ABCDEF"}, "m.csv", "programme"),
    ({"kind": "customers"}, "m.txt", "file"),
])
def test_bad_input_names_the_field_and_starts_nothing(client: FlaskClient, db: Database,
                                                      form: dict[str, str], name: str,
                                                      field: str) -> None:
    response = upload(client, b"number\n12345678\n", name, **form)
    assert response.status_code == 422, response.get_json()
    assert field in response.get_json()["errors"]
    assert count(db, ImportJob) == 0


def test_no_file_an_empty_file_and_unknown_imports(client: FlaskClient, db: Database) -> None:
    no_file = client.post("/api/v1/imports/", data={"kind": "customers"},
                          content_type="multipart/form-data")
    assert no_file.status_code == 422 and "file" in no_file.get_json()["errors"]
    empty = upload(client, b"", kind="customers")
    assert empty.status_code == 422 and "file" in empty.get_json()["errors"]
    as_json = client.post("/api/v1/imports/", json={"kind": "customers"})
    assert as_json.status_code == 422 and "file" in as_json.get_json()["errors"]
    assert count(db, ImportJob) == 0
    for path in ("/api/v1/imports/00000000-0000-4000-8000-000000000000",
                 "/api/v1/imports/not-an-id", "/api/v1/imports/not-an-id/report"):
        assert client.get(path).status_code == 404


def test_only_customer_service_and_pricing_import_and_read_reports(
        client_for: Callable[..., FlaskClient], anonymous: FlaskClient) -> None:
    for role in (CUSTOMER_SERVICE, PRICING):
        caller = client_for(role)
        started = upload(caller, b"last_name\nRossi\n", kind="customers")
        assert started.status_code == 202, (role, started.get_json())
        assert finished(caller, started.get_json()["id"])["state"] == "done"
    marketing = client_for(MARKETING)
    assert upload(marketing, b"last_name\nRossi\n", kind="customers").status_code == 403
    assert marketing.get("/api/v1/imports/").status_code == 403
    assert anonymous.get("/api/v1/imports/").status_code == 401


def test_an_imported_card_holder_joins_the_profile_of_the_cards_prefix(
        client: FlaskClient, db: Database) -> None:
    """As a customer made one at a time (SPEC L1): the batch gives the profile too."""
    made = client.post("/api/v1/loyalty/profiles/", json={
        "code": "BASE", "description": "Base", "card_prefix": "299", "default": True,
        "alternative_prefixes": []})
    assert made.status_code == 201, made.get_json()
    with db.transaction() as session:
        plain = customers.create(session, {"last_name": "Piano", "mobile": "+40722999999"}).id
    text = f"last_name;mobile;card\nNou;;{card(41)}\nPiano;+40722999999;{card(42)}\nFara;;\n"
    done = finished(client, upload(client, text.encode(), "people.csv",
                                   kind="customers").get_json()["id"])
    assert (done["created"], done["updated"]) == (2, 1), done
    with db.sessions() as session:
        new = customers.find(session, card=card(41))
        old = customers.get(session, plain)
        assert new is not None and new.profile == "BASE"
        assert customers.wire(new)["profile"] == "BASE"
        assert old.profile == "BASE" and customers.wire(old)["profile"] == "BASE"
        none = session.scalar(select(Customer).where(Customer.last_name == "Fara"))
        assert none is not None and none.profile is None
