"""E-mail receipts at the store: decided by the receipt profile central sent, queued with
the sale, sent by the mailer to a real SMTP server (aiosmtpd), retried, never lost."""

from __future__ import annotations

import base64
import datetime as dt
import email
import email.policy
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from protocol import messages
from store_agent.pos import receipts
from store_agent.pos.api import create_app
from store_agent.pos.mailer import Mailer
from store_agent.pos.till import record_sale
from store_agent.settings import SmtpSettings, parse_smtp
from store_agent.sqlite_store import LocalStore
from store_agent.sync.replica import Replica
from tests.support import free_port

pytestmark = pytest.mark.integration

NOW = dt.datetime(2026, 11, 22, 9, 30, tzinfo=dt.UTC)
STORE = "kiosk-1"
PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\x00" * 16).decode()
DEFAULT = {"scope": "default", "version": 1, "header": ["TESSERA MARKETS", "Via Roma 1"],
           "footer": ["Thank you!"], "logo_png": PNG,
           "email": {"policy": "propose", "sender": "receipts@tessera.example",
                     "subject": "Your receipt {number} from {store_name}",
                     "body": "Hello,\n\nyour receipt of {date}, total {total}:\n\n{receipt}\n",
                     "document_types": ["sale"]}}


class Recorder:
    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []
        self.envelopes: list[Any] = []

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,
                          rcpt_options: Any) -> str:
        if address.endswith("@refused.example"):
            return "550 5.1.1 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.envelopes.append(envelope)
        self.messages.append(email.message_from_bytes(envelope.content,
                                                      policy=email.policy.default))
        return "250 Message accepted"


@pytest.fixture
def smtp() -> Iterator[tuple[Recorder, SmtpSettings]]:
    handler = Recorder()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield handler, SmtpSettings("127.0.0.1", port, "none", timeout=5)
    finally:
        controller.stop()


def apply(store: LocalStore, stream: str, changes: list[dict[str, Any]]) -> None:
    Replica(store).apply(messages.parse(messages.envelope(
        "changes", stream=stream, log_epoch="e1", changes=changes)))


@pytest.fixture
def store(tmp_path: Path) -> LocalStore:
    store = LocalStore(tmp_path / "agent.db")
    apply(store, "catalog", [{"version": 1, "entity": "product", "key": "bread", "op": "upsert",
                              "data": {"sku": "bread", "name": "White bread", "category": None,
                                       "brand": None, "vat_rate": "9.00", "sale_price": "1.15",
                                       "active": True, "barcodes": ["4006381333931"]}}])
    apply(store, f"store-config@s:{STORE}",
          [{"version": 1, "entity": "store", "key": STORE, "op": "upsert",
            "data": {"code": STORE, "name": "Kiosk Garibaldi", "group": None,
                     "active": True}}])
    apply(store, "store-config", [{"version": 1, "entity": "receipt_profile",
                                   "key": "default", "op": "upsert", "data": DEFAULT}])
    return store


def sell(store: LocalStore, address: str | None = "anna@example.com") -> dict[str, Any]:
    request = {"uuid": str(uuid.uuid4()), "lines": [{"code": "4006381333931", "qty": "2"}],
               "payments": [{"method": "cash", "amount": "5.00"}], "email": address}
    return record_sale(store, STORE, request, NOW).sale


def state(store: LocalStore, sale: dict[str, Any]) -> dict[str, Any] | None:
    with store.read() as conn:
        return receipts.email_state(conn, sale["uuid"])


def test_the_receipt_arrives_by_email_with_header_footer_and_logo(
        store: LocalStore, smtp: tuple[Recorder, SmtpSettings]) -> None:
    handler, settings = smtp
    sale = sell(store)
    assert state(store, sale)["state"] == "queued"  # type: ignore[index]
    assert Mailer(store, settings, clock=lambda: NOW).send_due() == 1
    [message] = handler.messages
    assert message["To"] == "anna@example.com"
    assert message["From"] == "receipts@tessera.example"
    assert message["Subject"] == f"Your receipt {sale['number']} from Kiosk Garibaldi"
    assert message["Message-ID"] == f"<receipt-{sale['uuid']}@tessera.example>"
    body = message.get_body(preferencelist=("plain",)).get_content()
    assert "total 2.30" in body
    assert "TESSERA MARKETS" in body and "Thank you!" in body
    assert "White bread" in body and "Change" in body
    [logo] = list(message.iter_attachments())
    assert logo.get_content_type() == "image/png"
    sent = state(store, sale)
    assert sent is not None and sent["state"] == "sent" and sent["attempts"] == 1
    # Nothing is sent twice.
    assert Mailer(store, settings, clock=lambda: NOW).send_due() == 0


def test_an_unreachable_server_is_retried_later_and_a_refused_address_gives_up(
        store: LocalStore, smtp: tuple[Recorder, SmtpSettings]) -> None:
    handler, settings = smtp
    sale = sell(store)
    down = SmtpSettings("127.0.0.1", free_port(), "none", timeout=2)
    assert Mailer(store, down, clock=lambda: NOW).send_due() == 0
    waiting = state(store, sale)
    assert waiting is not None and waiting["state"] == "queued" and waiting["attempts"] == 1
    assert "Connection" in str(waiting["error"]) or "refused" in str(waiting["error"])
    # Not due yet at the same moment; due after the back-off.
    assert Mailer(store, settings, clock=lambda: NOW).send_due() == 0
    later = NOW + dt.timedelta(seconds=6)
    assert Mailer(store, settings, clock=lambda: later).send_due() == 1
    assert state(store, sale)["state"] == "sent"  # type: ignore[index]

    refused = sell(store, "nobody@refused.example")
    Mailer(store, settings, clock=lambda: later).send_due()
    final = state(store, refused)
    assert final is not None and final["state"] == "failed"
    assert "refused the address" in str(final["error"])
    assert len(handler.messages) == 1


def test_the_policy_and_the_document_types_decide(store: LocalStore) -> None:
    # No address: nothing to send (the sale itself is recorded).
    assert state(store, sell(store, None)) is None
    override = {"scope": STORE, "version": 1, "header": None, "footer": ["Kiosk footer"],
                "logo_png": None, "email": {"policy": "never", "sender": None,
                                            "subject": None, "body": None,
                                            "document_types": None}}
    apply(store, f"store-config@s:{STORE}", [{"version": 2, "entity": "receipt_profile",
                                             "key": STORE, "op": "upsert", "data": override}])
    assert state(store, sell(store)) is None  # this store never e-mails
    with store.read() as conn:
        profile = receipts.effective_profile(conn, STORE)
    assert profile["header"] == DEFAULT["header"]  # inherited
    assert profile["footer"] == ["Kiosk footer"]  # its own
    assert receipts.email_decision(profile, "a@b.example") == (
        False, "e-mail receipts are off for this store")
    # The override is deleted at central: the default applies again.
    apply(store, f"store-config@s:{STORE}", [{"version": 3, "entity": "receipt_profile",
                                             "key": STORE, "op": "delete", "data": None}])
    assert state(store, sell(store))["state"] == "queued"  # type: ignore[index]
    only_refunds = {**DEFAULT, "email": {**DEFAULT["email"], "document_types": ["refund"]}}
    apply(store, "store-config", [{"version": 2, "entity": "receipt_profile",
                                   "key": "default", "op": "upsert", "data": only_refunds}])
    assert state(store, sell(store)) is None


def test_the_till_sees_the_receipt_and_bad_addresses_are_refused(store: LocalStore) -> None:
    app = create_app(store, Replica(store), STORE, lambda: {}, clock=lambda: NOW)
    client = app.test_client()
    bad = client.post("/pos/v1/sales", json={"uuid": str(uuid.uuid4()),
                                             "lines": [{"code": "bread"}],
                                             "email": "not-an-address"})
    assert bad.status_code == 422 and "email" in bad.get_json()["errors"]
    sale_uuid = str(uuid.uuid4())
    created = client.post("/pos/v1/sales", json={"uuid": sale_uuid,
                                                 "lines": [{"code": "bread"}],
                                                 "email": "anna@example.com"})
    assert created.status_code == 201
    assert created.get_json()["email"]["state"] == "queued"
    receipt = client.get(f"/pos/v1/sales/{sale_uuid}/receipt").get_json()
    assert receipt["text"][0].strip() == "TESSERA MARKETS"
    assert receipt["text"][-1].strip() == "Thank you!"
    assert any(line.startswith("TOTAL") and line.endswith("1.15") for line in receipt["text"])
    assert receipt["email_policy"] == "propose" and receipt["logo_png"] == PNG
    assert all(len(line) <= receipts.WIDTH for line in receipt["text"])
    assert client.get(f"/pos/v1/sales/{uuid.uuid4()}/receipt").status_code == 404


@pytest.mark.parametrize(("zone", "shown"), [
    (None, "2026-11-22 09:30"),  # a record from a central without zones: UTC
    ("Europe/Rome", "2026-11-22 10:30"),
    ("America/New_York", "2026-11-22 04:30"),
    ("Asia/Kolkata", "2026-11-22 15:00"),
])
def test_receipts_show_the_sale_time_in_the_stores_zone(
        store: LocalStore, smtp: tuple[Recorder, SmtpSettings], zone: str | None,
        shown: str) -> None:
    apply(store, f"store-config@s:{STORE}",
          [{"version": 2, "entity": "store", "key": STORE, "op": "upsert",
            "data": {"code": STORE, "name": "Kiosk Garibaldi", "group": None,
                     "active": True, "time_zone": zone}}])
    app = create_app(store, Replica(store), STORE, lambda: {}, clock=lambda: NOW)
    client = app.test_client()
    sale_uuid = str(uuid.uuid4())
    created = client.post("/pos/v1/sales", json={"uuid": sale_uuid, "email": "anna@example.com",
                                                 "lines": [{"code": "bread"}]})
    assert created.status_code == 201
    assert created.get_json()["created_at"] == NOW.isoformat()  # storage stays UTC
    receipt = client.get(f"/pos/v1/sales/{sale_uuid}/receipt").get_json()
    [header] = [line for line in receipt["text"] if line.startswith("Receipt ")]
    assert header.endswith(shown)
    handler, settings = smtp
    assert Mailer(store, settings, clock=lambda: NOW).send_due() == 1
    body = handler.messages[0].get_body(preferencelist=("plain",)).get_content()
    assert f"your receipt of {shown}, total" in body


def test_smtp_urls() -> None:
    assert parse_smtp("smtp+starttls://user%40x:p%3Ass@mail.example:2525") == SmtpSettings(
        "mail.example", 2525, "starttls", "user@x", "p:ss")
    assert parse_smtp("smtps://mail.example").port == 465  # type: ignore[union-attr]
    assert parse_smtp(None) is None
    with pytest.raises(ValueError, match="TESSERA_SMTP_URL"):
        parse_smtp("http://mail.example")
