"""Ledger (L5): idempotent entries, reversals that name their lines, offline spending, expiry."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rules.loyalty.accrual import Sale, SaleLine, accrue
from rules.loyalty.accrual_policy import AccrualPolicy
from rules.loyalty.errors import InvalidEntry, InvalidPolicy, LedgerError
from rules.loyalty.expiry import ExpiryPolicy, expiry_entries
from rules.loyalty.ledger import (
    AlreadyReversed,
    ConflictingEntry,
    Entry,
    EntryKey,
    Ledger,
    balance,
    earn_entries,
    offline_allowance,
    reverse,
    reverse_sale_lines,
    spend_entry,
    transfer_entries,
)

D = Decimal
T0 = dt.datetime(2025, 3, 1, tzinfo=dt.UTC)
POLICY = AccrualPolicy(bonus_threshold=D(25), bonus_points=D(5))


def sale_entries(doc: str, amounts: list[Decimal], store: str = "S01") -> tuple[Entry, ...]:
    lines = tuple(SaleLine(i + 1, f"P{i}", D(1), a, a) for i, a in enumerate(amounts))
    return earn_entries(accrue(Sale(doc, lines), POLICY), "C1", T0, store=store,
                        profile_version=3)


def test_duplicates_change_nothing_and_conflicts_are_refused() -> None:
    entries = sale_entries("A", [D("60.00"), D("40.00")])
    first = Ledger("C1").apply(entries)
    assert first.ledger.balance == D(120) and len(first.added) == 2
    again = first.ledger.apply(entries)
    assert again.ledger == first.ledger and len(again.duplicates) == 2
    changed = Entry("earn", "A", 1, "C1", D(999), T0, "S01", 3, "points earned")
    with pytest.raises(ConflictingEntry):
        first.ledger.apply([changed])
    with pytest.raises(LedgerError, match="customer"):
        first.ledger.apply([Entry("earn", "B", 1, "C2", D(1), T0)])


def test_return_gives_back_exactly_the_lines_points() -> None:
    ledger = Ledger("C1").apply(sale_entries("A", [D("60.00"), D("40.00")])).ledger
    gift = spend_entry("A", 3, "C1", D(20), T0)
    ledger = ledger.apply([gift]).ledger
    assert ledger.balance == D(100)
    back = reverse_sale_lines(ledger, "A", "R1", [(1, 2)], T0)
    assert [(e.points, e.refers_to) for e in back] == [(D(-48), EntryKey("earn", "A", 2))]
    ledger = ledger.apply(back).ledger
    assert ledger.balance == D(52)
    with pytest.raises(AlreadyReversed):
        ledger.apply(reverse_sale_lines(ledger, "A", "R2", [(1, 2)], T0))
    # returning the gift line gives its points back
    ledger = ledger.apply(reverse_sale_lines(ledger, "A", "R2", [(1, 3)], T0)).ledger
    assert ledger.balance == D(72)


def test_reversal_must_match_what_it_reverses() -> None:
    ledger = Ledger("C1").apply(sale_entries("A", [D("10.00")])).ledger
    key = EntryKey("earn", "A", 1)
    wrong = Entry("reversal", "R1", 1, "C1", D(-5), T0, refers_to=key)
    with pytest.raises(LedgerError, match="carried 10"):
        ledger.apply([wrong])
    with pytest.raises(LedgerError, match="not in the ledger"):
        ledger.apply([Entry("reversal", "R1", 1, "C1", D(-5), T0,
                            refers_to=EntryKey("earn", "Z", 1))])
    reversal = reverse(ledger, "R1", [(1, key)], T0)
    ledger = ledger.apply(reversal).ledger
    with pytest.raises(LedgerError, match="cannot be reversed"):
        ledger.apply(reverse(ledger, "R2", [(1, reversal[0].key)], T0))


@pytest.mark.parametrize(("kw", "field"), [
    ({"kind": "earn", "points": D(-1)}, "points"),
    ({"kind": "spend", "points": D(1)}, "points"),
    ({"kind": "adjustment", "points": D(5), "reason": " "}, "reason"),
    ({"kind": "adjustment", "points": D(0), "reason": "x"}, "points"),
    ({"kind": "reversal", "points": D(-1)}, "refers_to"),
    ({"kind": "gift", "points": D(1)}, "kind"),
])
def test_malformed_entries_name_the_field(kw: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidEntry) as info:
        Entry(document="D", line=1, customer="C1", at=T0, **kw)  # type: ignore[arg-type]
    assert info.value.field == field


def test_offline_allowance() -> None:
    pending = [spend_entry("A", 1, "C1", D(30), T0), spend_entry("B", 1, "C1", D(20), T0),
               Entry("earn", "B", 2, "C1", D(15), T0)]
    assert offline_allowance(D(100), pending) == D(50)
    assert offline_allowance(D(40), pending) == D(0)
    assert offline_allowance(D(100), []) == D(100)


def test_two_offline_stores_overspend_the_balance_goes_negative() -> None:
    ledger = Ledger("C1").apply(sale_entries("A", [D("30.00")])).ledger  # 35 points
    a = spend_entry("S1-X", 1, "C1", D(30), T0, store="S01")
    b = spend_entry("S2-X", 1, "C1", D(30), T0, store="S02")
    assert offline_allowance(ledger.balance, []) >= 30
    assert ledger.apply([a, b]).ledger.balance == D(-25)


def test_expiry_oldest_points_first_as_an_entry() -> None:
    march, june, july = T0, T0.replace(month=6), T0.replace(month=7)
    ledger = Ledger("C1").apply([
        Entry("earn", "A", 1, "C1", D(100), march), Entry("earn", "B", 1, "C1", D(50), june),
        spend_entry("C", 1, "C1", D(120), july)]).ledger
    policy = ExpiryPolicy(365)
    assert expiry_entries(ledger, None, T0.replace(year=2030)) == ()
    assert expiry_entries(ledger, policy, T0.replace(year=2026, month=5)) == ()
    due = expiry_entries(ledger, policy, T0.replace(year=2026, month=7))
    assert [(e.points, e.refers_to) for e in due] == [(D(-30), EntryKey("earn", "B", 1))]
    ledger = ledger.apply(due).ledger
    assert ledger.balance == 0
    assert expiry_entries(ledger, policy, T0.replace(year=2027)) == ()
    with pytest.raises(InvalidPolicy, match="days"):
        ExpiryPolicy(0)


def test_debt_is_repaid_before_points_expire() -> None:
    ledger = Ledger("C1").apply([
        spend_entry("A", 1, "C1", D(10), T0), Entry("earn", "B", 1, "C1", D(30), T0)]).ledger
    due = expiry_entries(ledger, ExpiryPolicy(30), T0 + dt.timedelta(days=31))
    assert [e.points for e in due] == [D(-20)]


# -- properties ---------------------------------------------------------------------------------

money = st.decimals(min_value=D("0.01"), max_value=D("200"), places=2)
sales = st.lists(st.lists(money, min_size=1, max_size=5), min_size=1, max_size=6)


def batch_of(baskets: list[list[Decimal]]) -> list[Entry]:
    return [e for i, amounts in enumerate(baskets) for e in sale_entries(f"S{i}", amounts)]


@given(sales, st.integers(min_value=1, max_value=4), st.randoms(use_true_random=False))
def test_replaying_any_batch_any_number_of_times_leaves_the_same_ledger(
        baskets: list[list[Decimal]], times: int, rnd: object) -> None:
    batch = batch_of(baskets)
    once = Ledger("C1").apply(batch).ledger
    ledger = once
    for _ in range(times):
        replay = list(batch)
        rnd.shuffle(replay)  # type: ignore[attr-defined]
        ledger = ledger.apply(replay[: len(replay) // 2 + 1]).ledger
        ledger = ledger.apply(replay).ledger
    assert ledger == once
    assert ledger.balance == balance(ledger.entries) == sum(e.points for e in batch)


@given(st.lists(money, min_size=1, max_size=6))
def test_a_sale_then_the_reversal_of_all_its_lines_nets_to_zero(amounts: list[Decimal]) -> None:
    ledger = Ledger("C1").apply(sale_entries("A", amounts)).ledger
    back = reverse_sale_lines(ledger, "A", "R", [(n, n) for n in range(1, len(amounts) + 1)],
                              T0)
    assert ledger.apply(back).ledger.balance == 0


@given(sales, st.lists(st.decimals(min_value=D(-50), max_value=D(50), places=2)
                       .filter(lambda d: d != 0), max_size=4))
def test_balance_is_the_sum_of_the_entries(baskets: list[list[Decimal]],
                                           adjustments: list[Decimal]) -> None:
    entries = batch_of(baskets) + [Entry("adjustment", f"ADJ{i}", 0, "C1", d, T0,
                                         reason="manual")
                                   for i, d in enumerate(adjustments)]
    ledger = Ledger("C1")
    running = D(0)
    for entry in entries:
        ledger = ledger.apply([entry]).ledger
        running += entry.points
        assert ledger.balance == running


def test_a_merge_transfer_moves_a_balance_once_and_cannot_be_reversed() -> None:
    loser = Ledger("C2").apply(
        [Entry("adjustment", "adj", 1, "C2", D(40), T0, reason="opening")]).ledger
    out, into = transfer_entries("merge:7", "C2", "C1", loser.balance, T0, reason="merged")
    moved = loser.apply([out]).ledger
    survivor = Ledger("C1").apply([into]).ledger
    assert (moved.balance, survivor.balance) == (0, 40)
    assert moved.apply([out]).added == ()  # the same merge again moves nothing
    with pytest.raises(LedgerError, match="cannot be reversed"):
        survivor.apply(reverse(survivor, "ret", [(1, into.key)], T0))
    with pytest.raises(InvalidEntry, match="reason"):
        Entry("transfer", "merge:8", 1, "C1", D(5), T0)
    with pytest.raises(LedgerError, match="two customers"):
        transfer_entries("merge:9", "C1", "C1", D(5), T0, reason="merged")
