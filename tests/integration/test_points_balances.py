"""Balances reach every store: each change of a customer's ledger at central records the
``points_balance`` entity (customers bucket) in the same transaction, with the sum."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from decimal import Decimal

import pytest

from central.db import Database
from central.services import changelog, loyalty_profiles, points_ledger
from central.services.errors import Invalid
from protocol.entities import ENTITIES
from rules.loyalty.accrual import SaleLine

pytestmark = pytest.mark.integration

NOW = dt.datetime(2026, 3, 1, 10, 0, tzinfo=dt.UTC)
D = Decimal


def balance_changes(db: Database) -> list[tuple[str, str, dict[str, object] | None]]:
    with db.sessions() as session:
        return [(c.key, c.op, None if c.data is None else json.loads(c.data))
                for c in changelog.read(session, "customers", 0, 1000)
                if c.entity == "points_balance"]


def test_each_ledger_change_sends_the_new_balance_and_a_replay_sends_nothing(
        clean_pg_db: Database) -> None:
    db = clean_pg_db
    customer = str(uuid.uuid4())
    with db.transaction() as s:
        loyalty_profiles.create_profile(s, "BASE", {
            "description": "Standard", "default": True, "card_prefix": "29",
            "discount_percent": D(0),
            "accrual": {"threshold": "1", "step": "1", "points_per_step": "1"}}, NOW)
    lines = [SaleLine(0, "FOOD", D(1), D("30.00"), D("30.00"))]
    with db.transaction() as s:
        points_ledger.record_sale(s, customer, "sale-1", "kiosk-1", lines, NOW, "BASE", 1,
                                  NOW)
    later = NOW + dt.timedelta(hours=1)
    with db.transaction() as s:
        points_ledger.record_sale(s, customer, "sale-1", "kiosk-1", lines, NOW, "BASE", 1,
                                  later)  # a replay: nothing new
        points_ledger.adjust(s, customer, D("-5"), "goodwill taken back", "ops", later)
    with db.transaction() as s, pytest.raises(Invalid):  # refused: nothing is sent
        points_ledger.adjust(s, customer, D("3"), " ", "ops", later)
    changes = balance_changes(db)
    assert [(key, op) for key, op, _ in changes] == [(customer, "upsert")] * 2
    assert [(d or {})["points"] for _, _, d in changes] == ["30.00", "25.00"]
    assert (changes[1][2] or {})["updated_at"] == later.isoformat()
    entity = ENTITIES["points_balance"]
    for key, _op, data in changes:
        assert entity.key_of(entity.load(key, data or {})) == customer
    with db.sessions() as s:
        assert points_ledger.balance(s, customer) == D("25")
        assert points_ledger.check_balances(s) == []


def test_a_forgotten_balance_is_a_delete_for_every_store(clean_pg_db: Database) -> None:
    customer = str(uuid.uuid4())
    with clean_pg_db.transaction() as s:
        points_ledger.adjust(s, customer, D("7"), "welcome", "ops", NOW)
        points_ledger.forget_balance(s, customer)
    assert [(k, op) for k, op, _ in balance_changes(clean_pg_db)] == [
        (customer, "upsert"), (customer, "delete")]
