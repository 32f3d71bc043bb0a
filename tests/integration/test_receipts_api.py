"""Receipt profiles at central: validated, inherited per store, sent on the store-config
streams, written by marketing."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from central.db import Database
from central.models import Change
from central.roles import MARKETING, PRICING

pytestmark = pytest.mark.integration

PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\x00" * 32).decode()
EMAIL = {"policy": "propose", "sender": "receipts@tessera.example",
         "subject": "Receipt {number} from {store_name}", "body": "Thanks!\n\n{receipt}"}


@pytest.fixture
def db(central_db: Database) -> Database:
    return central_db


@pytest.fixture
def marketing(client_for: Callable[..., FlaskClient]) -> FlaskClient:
    admin = client_for("admin")
    assert admin.post("/api/v1/stores/", json={"code": "kiosk-1",
                                               "name": "Kiosk 1"}).status_code == 201
    return client_for(MARKETING)


def changes(db: Database, stream: str) -> list[Change]:
    with db.sessions() as session:
        return list(session.scalars(select(Change).where(Change.stream == stream)
                                    .where(Change.entity == "receipt_profile")
                                    .order_by(Change.version)))


def test_the_default_profile_reaches_every_store(marketing: FlaskClient,
                                                 central_db: Database) -> None:
    body = {"header": ["TESSERA", "Via Roma 1"], "footer": ["Grazie!"], "logo_png": PNG,
            "email": {**EMAIL, "document_types": ["sale"]}}
    response = marketing.put("/api/v1/receipt-profiles/default", json=body)
    assert response.status_code == 200, response.get_json()
    profile = response.get_json()
    assert profile["version"] == 1 and profile["header"] == ["TESSERA", "Via Roma 1"]
    [change] = changes(central_db, "store-config")
    assert change.key == "default" and json.loads(change.data or "{}")["footer"] == ["Grazie!"]
    again = marketing.put("/api/v1/receipt-profiles/default", json={**body, "footer": []})
    assert again.get_json()["version"] == 2 and again.get_json()["footer"] == []
    assert marketing.get("/api/v1/receipt-profiles/default").get_json()["logo_png"] == PNG


def test_a_store_override_inherits_what_it_leaves_out(marketing: FlaskClient,
                                                      central_db: Database) -> None:
    marketing.put("/api/v1/receipt-profiles/default", json={"footer": ["Chain"],
                                                            "email": EMAIL})
    own = marketing.put("/api/v1/receipt-profiles/kiosk-1", json={"header": ["Kiosk 1"]})
    assert own.status_code == 200, own.get_json()
    assert own.get_json()["footer"] is None  # inherits
    [change] = changes(central_db, "store-config@s:kiosk-1")
    assert change.key == "kiosk-1"
    listed = marketing.get("/api/v1/receipt-profiles/").get_json()
    assert [p["scope"] for p in listed] == ["default", "kiosk-1"]
    assert marketing.delete("/api/v1/receipt-profiles/kiosk-1").status_code == 204
    deleted = changes(central_db, "store-config@s:kiosk-1")[-1]
    assert deleted.op == "delete"
    assert marketing.get("/api/v1/receipt-profiles/kiosk-1").status_code == 404
    assert marketing.delete("/api/v1/receipt-profiles/default").status_code == 422
    assert marketing.put("/api/v1/receipt-profiles/nowhere", json={}).status_code == 404


@pytest.mark.parametrize(("body", "field"), [
    ({"email": {"policy": "sometimes"}}, "email"),
    ({"email": {**EMAIL, "sender": "not an address"}}, "email.sender"),
    ({"email": {**EMAIL, "subject": "Receipt {customer}"}}, "email.subject"),
    ({"email": {**EMAIL, "body": "Total {total"}}, "email.body"),
    ({"email": {**EMAIL, "document_types": ["invoice"]}}, "email"),
    ({"email": {"policy": "always"}}, "email.sender"),
    ({"header": ["x" * 49]}, "header"),
    ({"footer": [str(n) for n in range(11)]}, "footer"),
    ({"logo_png": base64.b64encode(b"GIF89a").decode()}, "logo_png"),
    ({"logo_png": "%%%"}, "logo_png"),
    ({"header": "one string"}, "header"),
])
def test_contradictions_are_refused_naming_the_field(marketing: FlaskClient, body: dict,
                                                     field: str,
                                                     central_db: Database) -> None:
    response = marketing.put("/api/v1/receipt-profiles/default", json=body)
    assert response.status_code == 422, response.get_json()
    assert field in response.get_json()["errors"], response.get_json()
    assert changes(central_db, "store-config") == []  # nothing half-written


def test_an_override_may_not_leave_email_receipts_incomplete(marketing: FlaskClient) -> None:
    marketing.put("/api/v1/receipt-profiles/default", json={"footer": ["Chain"]})
    refused = marketing.put("/api/v1/receipt-profiles/kiosk-1",
                            json={"email": {"policy": "always"}})
    assert refused.status_code == 422
    assert set(refused.get_json()["errors"]) == {"email.sender", "email.subject", "email.body"}
    assert marketing.put("/api/v1/receipt-profiles/kiosk-1",
                         json={"email": EMAIL}).status_code == 200
    # The default may not take away what the override relies on... it has nothing to take:
    # the override is complete on its own, so a bare default is fine.
    assert marketing.put("/api/v1/receipt-profiles/default", json={}).status_code == 200


def test_pricing_may_read_but_not_write(client_for: Callable[..., FlaskClient],
                                        marketing: FlaskClient) -> None:
    pricing = client_for(PRICING)
    assert pricing.get("/api/v1/receipt-profiles/").status_code == 200
    assert pricing.put("/api/v1/receipt-profiles/default", json={}).status_code == 403
