"""The points ledger at central on PostgreSQL: sales recorded with the rules at the profile
version the store used, replays that change nothing, reversals by lines, the kept balance
proven equal to the sum."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import Session

from central.db import Database
from central.models.loyalty import PointsEntry
from central.services import loyalty_profiles, points_ledger
from central.services.errors import Conflict, Invalid, NotFound
from central.services.points_ledger import GiftSpend
from rules.loyalty.accrual import SaleLine

pytestmark = pytest.mark.integration

NOW = dt.datetime(2026, 3, 1, 10, 0, tzinfo=dt.UTC)
D = Decimal
SEED = {"threshold": "1", "step": "1", "points_per_step": "1", "bonus_threshold": "25",
        "bonus_points": "5"}


@pytest.fixture
def db(clean_pg_db: Database) -> Iterator[Database]:
    with clean_pg_db.sessions() as session:
        loyalty_profiles.create_profile(session, "BASE", {
            "description": "Standard", "default": True, "card_prefix": "29",
            "discount_percent": D(0), "accrual": SEED}, NOW)
        # Version 2 earns double per step: a sale computed with version 1 keeps version 1.
        loyalty_profiles.update_profile(session, "BASE", {
            "accrual": {**SEED, "points_per_step": "2"}}, NOW)
        session.commit()
    yield clean_pg_db


def line(number: int, amount: str, sku: str = "FOOD") -> SaleLine:
    return SaleLine(number, sku, D(1), D(amount), D(amount))


def entries(session: Session, customer: str) -> list[tuple[object, ...]]:
    return [(r.kind, r.document, r.line, r.of_kind, r.points, r.store, r.profile_version)
            for r in session.scalars(select(PointsEntry).where(PointsEntry.customer_id == customer)
                                     .order_by(PointsEntry.kind, PointsEntry.document,
                                               PointsEntry.line))]


def test_the_seed_purchase_earns_at_the_version_the_store_used(db: Database) -> None:
    customer = str(uuid.uuid4())
    with db.sessions() as session:
        applied = points_ledger.record_sale(session, customer, "sale-1", "kiosk-1",
                                            [line(1, "60.00"), line(2, "40.00")], NOW, "BASE",
                                            1, NOW)
        assert sum(e.points for e in applied.added) == 120  # 100 + 4 x 5 (seeds/002)
        again = points_ledger.record_sale(session, customer, "sale-2", "kiosk-1",
                                          [line(1, "10.00")], NOW, "BASE", 2, NOW)
        assert sum(e.points for e in again.added) == 20  # version 2: 2 points a euro
        session.commit()
        assert points_ledger.balance(session, customer) == 140
        assert {r.profile_version for r in points_ledger.rows(session, customer)} == {1, 2}
        with pytest.raises(NotFound):
            points_ledger.record_sale(session, customer, "sale-3", "kiosk-1",
                                      [line(1, "10.00")], NOW, "BASE", 7, NOW)


def test_a_replay_with_other_content_is_refused_never_overwritten(db: Database) -> None:
    customer = str(uuid.uuid4())
    with db.sessions() as session:
        points_ledger.record_sale(session, customer, "sale-1", "kiosk-1", [line(1, "30.00")],
                                  NOW, "BASE", 1, NOW)
        session.commit()
        with pytest.raises(Conflict):
            points_ledger.record_sale(session, customer, "sale-1", "kiosk-1",
                                      [line(1, "31.00")], NOW, "BASE", 1, NOW)
        session.rollback()
        assert points_ledger.balance(session, customer) == 35


def test_a_gift_spends_its_points_and_a_second_gift_in_the_sale_is_refused(
        db: Database) -> None:
    customer = str(uuid.uuid4())
    with db.sessions() as session:
        points_ledger.adjust(session, customer, D(100), "opening balance", "ops", NOW)
        applied = points_ledger.record_sale(
            session, customer, "sale-1", "kiosk-1", [line(1, "10.00"), line(2, "5.10", "BALL")],
            NOW, "BASE", 1, NOW, gifts=[GiftSpend(2, D(64))])
        # The gift line earns nothing; it spends 64.
        assert sorted((e.kind, e.line, e.points) for e in applied.added) == [
            ("earn", 1, D(10)), ("spend", 2, D(-64))]
        with pytest.raises(Invalid, match="only one gift per sale"):
            points_ledger.record_sale(
                session, customer, "sale-2", "kiosk-1",
                [line(1, "5.10", "BALL"), line(2, "2.80", "BOWL")], NOW, "BASE", 1, NOW,
                gifts=[GiftSpend(1, D(64)), GiftSpend(2, D(35))])
        session.rollback()


def test_a_return_gives_back_exactly_the_points_of_the_lines_returned(db: Database) -> None:
    customer = str(uuid.uuid4())
    with db.sessions() as session:
        points_ledger.adjust(session, customer, D(100), "opening balance", "ops", NOW)
        points_ledger.record_sale(session, customer, "sale-1", "kiosk-1",
                                  [line(1, "60.00"), line(2, "40.00"), line(3, "5.10", "BALL")],
                                  NOW, "BASE", 1, NOW, gifts=[GiftSpend(3, D(64))])
        session.commit()
        earned = {r.line: r.points for r in points_ledger.rows(session, customer)
                  if r.kind == "earn"}
        before = points_ledger.balance(session, customer)
        points_ledger.reverse_lines(session, customer, "sale-1", "return-1", [(1, 2)], NOW,
                                    "kiosk-2", NOW)
        assert points_ledger.balance(session, customer) == before - earned[2]
        # The same return again changes nothing; a second return of the line is refused.
        points_ledger.reverse_lines(session, customer, "sale-1", "return-1", [(1, 2)], NOW,
                                    "kiosk-2", NOW)
        session.commit()
        assert points_ledger.balance(session, customer) == before - earned[2]
        with pytest.raises(Invalid, match="already reversed"):
            points_ledger.reverse_lines(session, customer, "sale-1", "return-2", [(1, 2)],
                                        NOW, "kiosk-2", NOW)
        session.rollback()
        # Returning the rest, the gift line too (its 64 points come back): nets to the start.
        points_ledger.reverse_lines(session, customer, "sale-1", "return-2",
                                    [(1, 1), (2, 3)], NOW, "kiosk-2", NOW)
        assert points_ledger.balance(session, customer) == 100
        assert points_ledger.check_balances(session) == []
        session.commit()


amounts = st.decimals(min_value=D("0.01"), max_value=D("80.00"), places=2)
sales = st.lists(st.lists(amounts, min_size=1, max_size=4), min_size=1, max_size=5)


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batch=sales, plays=st.lists(st.integers(min_value=0, max_value=4), min_size=5,
                                   max_size=30), data=st.data())
def test_replaying_any_batch_any_number_of_times_leaves_the_same_ledger(
        db: Database, batch: list[list[Decimal]], plays: list[int],
        data: st.DataObject) -> None:
    once, replayed = str(uuid.uuid4()), str(uuid.uuid4())

    def record(session: Session, customer: str, index: int) -> None:
        points_ledger.record_sale(session, customer, f"sale-{index}", f"store-{index % 2}",
                                  [line(n, str(a)) for n, a in enumerate(batch[index], 1)],
                                  NOW, "BASE", 1 + index % 2, NOW)

    with db.sessions() as session:
        for index in range(len(batch)):
            record(session, once, index)
        session.commit()
        order = [p % len(batch) for p in plays] + data.draw(st.permutations(range(len(batch))))
        for index in order:
            record(session, replayed, index)
            if data.draw(st.booleans()):
                session.commit()  # some replays land in later transactions
        session.commit()
        assert entries(session, replayed) == entries(session, once)
        total = sum((r.points for r in points_ledger.rows(session, replayed)), D(0))
        assert points_ledger.balance(session, replayed) == total
        assert points_ledger.check_balances(session) == []


@settings(max_examples=15, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(amounts=st.lists(amounts, min_size=1, max_size=6))
def test_a_sale_then_the_reversal_of_all_its_lines_nets_to_zero(
        db: Database, amounts: list[Decimal]) -> None:
    customer = str(uuid.uuid4())
    with db.sessions() as session:
        points_ledger.record_sale(session, customer, "sale-1", "kiosk-1",
                                  [line(n, str(a)) for n, a in enumerate(amounts, 1)], NOW,
                                  "BASE", 1, NOW)
        points_ledger.reverse_lines(session, customer, "sale-1", "return-1",
                                    [(n, n) for n in range(1, len(amounts) + 1)], NOW,
                                    "kiosk-1", NOW)
        session.commit()
        assert points_ledger.balance(session, customer) == 0
        assert points_ledger.check_balances(session) == []
