"""A customer as the set of its edits: offline edits at two stores, merges, erasure."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from functools import reduce

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rules.cards import CardKind
from rules.customers.duplicates import Candidate, Verdict, compare, merge, survivor_of
from rules.customers.history import (
    CardLink,
    CustomerState,
    Edit,
    HistoryError,
    Stamp,
    apply,
    erase,
    fold,
    join,
    resolve,
)
from rules.customers.record import Consent

T0 = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
BIRTH = date(1990, 5, 1)
ID = "c-1"


def stamp(minutes: int, store: str = "A", edit: str = "") -> Stamp:
    return Stamp(T0 + timedelta(minutes=minutes), store, edit or f"{store}{minutes}")


def edit(minutes: int, store: str = "A", customer: str = ID, edit_id: str = "",
         **changes: object) -> Edit:
    return Edit.of(customer, stamp(minutes, store, edit_id), changes)  # type: ignore[arg-type]


def test_field_by_field_the_later_store_clock_wins_and_the_other_stays_in_history() -> None:
    created = edit(0, "A", last_name="Rossi", email="anna@example.com")
    at_a = edit(10, "A", city="Milano", mobile="+393471234567")
    at_b = edit(12, "B", city="Monza")             # later: wins city
    at_b2 = edit(5, "B", mobile="+393470000000")   # earlier: loses mobile
    state = fold(ID, [at_b, created, at_b2, at_a])
    assert state.fields() == {"last_name": "Rossi", "email": "anna@example.com",
                              "city": "Monza", "mobile": "+393471234567"}
    assert [value for _, value in state.field_history("city")] == ["Milano", "Monza"]
    assert [e.stamp.store for e in state.history()] == ["A", "B", "A", "B"]


def test_equal_clocks_are_decided_by_store_code_then_edit_id() -> None:
    a = edit(1, "A", city="from A")
    b = edit(1, "B", city="from B")
    assert fold(ID, [a, b]).fields()["city"] == "from B"
    b1 = edit(1, "B", edit_id="e1", city="e1")
    b2 = edit(1, "B", edit_id="e2", city="e2")
    assert fold(ID, [b2, b1]).fields()["city"] == "e2"


def test_a_later_blank_clears_a_field() -> None:
    state = fold(ID, [edit(0, grouping="Federation"), edit(1, "B", grouping=None)])
    assert "grouping" not in state.fields()


def test_consents_keep_their_own_history() -> None:
    yes = Consent(True, T0, "A")
    no = Consent(False, T0 + timedelta(days=3), "B")
    state = fold(ID, [edit(0, consent_sms=yes), edit(4320, "B", consent_sms=no)])
    assert state.fields()["consent_sms"] == no
    assert [v for _, v in state.field_history("consent_sms")] == [yes, no]


def test_cards_are_added_and_retired_and_a_lost_card_is_replaced() -> None:
    old, new = CardLink("2901000000014", CardKind.LOYALTY), CardLink("2901000000021",
                                                                     CardKind.LOYALTY)
    add = Edit.of(ID, stamp(0), {}, add_cards=[old])
    replace_lost = Edit.of(ID, stamp(5), {}, add_cards=[new], retire_cards=[old.number])
    state = fold(ID, [replace_lost, add])
    assert state.active_cards() == [new.number]
    assert state.cards()[old.number] == (old, False)


def test_naive_times_and_other_customers_are_refused() -> None:
    with pytest.raises(HistoryError, match="timezone"):
        Stamp(datetime(2025, 1, 1), "A", "x")  # noqa: DTZ001
    with pytest.raises(HistoryError):
        apply(CustomerState(ID), edit(0, customer="c-2", city="x"))
    with pytest.raises(HistoryError):
        join(CustomerState(ID), CustomerState("c-2"))


# --- erasure ----------------------------------------------------------------------------

def test_an_erased_customer_never_comes_back_from_an_older_copy() -> None:
    card = CardLink("2901000000014", CardKind.LOYALTY)
    copy_at_b = fold(ID, [edit(0, last_name="Rossi", home_store="A"),
                          Edit.of(ID, stamp(1), {"mobile": "+393471234567"}, add_cards=[card]),
                          edit(30, "B", email="anna@example.com")])   # B offline, edited
    central = erase(fold(ID, [edit(0, last_name="Rossi", home_store="A")]), stamp(20, "HQ"))
    after = join(central, copy_at_b)
    assert after.fields() == {"home_store": "A"}
    assert after.active_cards() == []
    assert card.number in after.cards()                  # kept, so never reissued
    assert all(not e.changes or e.changes == (("home_store", "A"),) for e in after.edits)
    assert "anna@example.com" not in repr(after)        # the value is gone, not hidden
    assert any("email" in e.redacted for e in after.edits)
    late = apply(after, edit(60, "B", first_name="Anna", home_store="B"))
    assert late.fields() == {"home_store": "B"}


# --- properties: any delivery order gives the same record --------------------------------

fields = st.sampled_from(["city", "mobile", "email", "home_store", "observation"])
edits = st.builds(
    lambda minute, store, n, name, value, cards, retire: Edit.of(
        ID, stamp(minute, store, f"{store}-{n}"), {name: value},
        add_cards=[CardLink(c, CardKind.LOYALTY) for c in cards], retire_cards=retire),
    st.integers(0, 5), st.sampled_from(["A", "B", "C"]), st.integers(0, 3), fields,
    st.one_of(st.none(), st.sampled_from(["x", "y", "z"])),
    st.lists(st.sampled_from(["c1", "c2", "c3"]), max_size=2),
    st.lists(st.sampled_from(["c1", "c2"]), max_size=1))
erasures = st.one_of(st.none(), st.builds(lambda m: stamp(m, "HQ"), st.integers(0, 5)))
states = st.builds(lambda es, er: erase(fold(ID, es), er) if er else fold(ID, es),
                   st.lists(edits, max_size=6), erasures)


def view(state: CustomerState) -> tuple[object, ...]:
    return (state.fields(), state.cards(), state.edits, state.erased)


@settings(max_examples=300)
@given(states, states, states)
def test_join_is_commutative_associative_and_idempotent(a: CustomerState, b: CustomerState,
                                                        c: CustomerState) -> None:
    assert view(join(a, b)) == view(join(b, a))
    assert view(join(join(a, b), c)) == view(join(a, join(b, c)))
    assert view(join(a, a)) == view(a)


@settings(max_examples=300)
@given(st.lists(edits, max_size=10), erasures, st.randoms(use_true_random=False))
def test_shuffled_and_repeated_delivery_equals_in_order_delivery(
        items: list[Edit], erasure: Stamp | None, rnd: random.Random) -> None:
    def deliver(sequence: list[Edit]) -> CustomerState:
        state = CustomerState(ID)
        for i, item in enumerate(sequence):
            if erasure and i == len(sequence) // 2:
                state = erase(state, erasure)
            state = apply(state, item)
        return erase(state, erasure) if erasure else state
    in_order = deliver(sorted(items, key=lambda e: e.stamp))
    shuffled = items + rnd.sample(items, k=len(items) // 2)
    rnd.shuffle(shuffled)
    assert view(deliver(shuffled)) == view(in_order)


# --- duplicates and merge ----------------------------------------------------------------

def anna(cid: str, minute: int, store: str, **more: object) -> CustomerState:
    base = {"first_name": "Anna", "last_name": "Rossi"} | more
    return fold(cid, [Edit.of(cid, stamp(minute, store, f"{cid}-0"), base)])  # type: ignore[arg-type]


def with_card(state: CustomerState, number: str, minute: int) -> CustomerState:
    return apply(state, Edit.of(state.customer_id, stamp(minute, "A", f"card-{number}"), {},
                                add_cards=[CardLink(number, CardKind.LOYALTY)]))


def test_same_card_merges_by_itself_the_rest_is_a_proposal() -> None:
    a = with_card(anna("a", 0, "A", mobile="+393471234567"), "X", 1)
    b = with_card(anna("b", 2, "B", email="ANNA@example.com"), "X", 3)
    c = anna("c", 4, "B", mobile="+393471234567")
    d = anna("d", 5, "C", email="anna@EXAMPLE.com")
    e = anna("e", 6, "C", birth_date=BIRTH)
    f = fold("f", [Edit.of("f", stamp(7, "C", "f-0"),
                           {"first_name": "Ana", "last_name": "Rosi", "birth_date": BIRTH})])
    g = anna("g", 8, "C")
    found = compare(Candidate.of(a), Candidate.of(b))
    assert found is not None and found.verdict is Verdict.MERGE and found.score == 100
    found = compare(Candidate.of(a), Candidate.of(c))
    assert found is not None and found.verdict is Verdict.PROPOSE
    assert found.reasons == ("same mobile",)
    found = compare(Candidate.of(b), Candidate.of(d))
    assert found is not None and found.reasons == ("same e-mail",)
    found = compare(Candidate.of(f), Candidate.of(e))
    assert found is not None and found.reasons == ("similar name and same birth date",)
    assert found.a == "e"                                       # symmetric, ordered ids
    assert compare(Candidate.of(a), Candidate.of(g)) is None    # a name alone is not enough
    assert compare(Candidate.of(e), Candidate.of(g)) is None


def test_a_merge_keeps_every_card_edit_and_consent_and_redirects_the_old_ids() -> None:
    a = with_card(anna("a", 0, "A", mobile="+393471234567",
                       consent_email=Consent(True, T0, "A")), "X", 1)
    b = with_card(anna("b", 2, "B", mobile="+393471234567", city="Monza",
                       consent_sms=Consent(True, T0, "B")), "Y", 3)
    older = fold("z", [edit(9, "C", customer="z", city="Pavia")])
    survivor, loser = survivor_of(b, a)
    assert survivor.customer_id == "a"
    first = merge(survivor, loser)
    assert first.redirects == {"b": "a"}
    again = merge(with_card(older, "Z", 10), first.survivor)   # a chain of merges
    state = again.survivor
    assert again.redirects == {"a": "z", "b": "z"}
    assert sorted(state.active_cards()) == ["X", "Y", "Z"]
    assert len(state.edits) == len(a.edits) + len(b.edits) + 2
    assert {"consent_email", "consent_sms"} <= set(state.fields())
    assert state.fields()["city"] == "Pavia"                    # later clock wins
    assert resolve("b", {"b": "a"} | again.redirects) == "z"
    late_for_b = edit(30, "B", customer="b", observation="Pays cash")
    assert apply(state, late_for_b).fields()["observation"] == "Pays cash"
    with pytest.raises(HistoryError, match="erased"):
        merge(state, erase(anna("q", 0, "A"), stamp(1)))
    with pytest.raises(HistoryError, match="loop"):
        resolve("a", {"a": "b", "b": "a"})


def test_merge_then_edits_in_any_order_give_one_record() -> None:
    a, b = anna("a", 0, "A"), anna("b", 1, "B")
    later = [edit(5, "A", customer="a", city="Milano"), edit(6, "B", customer="b", city="Rho")]
    merged = merge(reduce(apply, later[:1], a), reduce(apply, later[1:], b)).survivor
    other = reduce(apply, reversed(later), merge(a, b).survivor)
    assert view(merged) == view(other)
    assert merged.fields()["city"] == "Rho"
