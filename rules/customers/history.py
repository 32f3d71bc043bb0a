"""A customer as the set of its edits (K5): concurrent offline edits, merges and erasure.

Every change to a customer, made at a till or at head office, is an ``Edit`` with a
``Stamp``: the store's clock (aware UTC), the store's code and the edit's UUID. A
customer's state is the set of its edits plus, once erased, the erasure's stamp. Joining
two states is a set union (and the earlier erasure), so it is commutative, associative
and idempotent: central and every store reach the same record whatever order, or how many
times, the edits arrive.

The rule, field by field: the value shown is the one from the edit with the greatest
stamp that set that field — the later store clock wins; equal clocks are decided by the
store code, then the edit id (the greater wins). The losing values stay in the history.
Cards are added and retired, never edited: a card is active once some edit added it and
until some edit retired it. An erasure is final: from then on every personal field is
blank whatever the time of an edit (an older copy's edit, or a newer one typed at a store
that had not heard of it), the values are dropped from the history too, and every card is
retired (its number is kept so it is never reissued). Non-personal fields (home store)
still follow the rule above.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime

from rules.cards import CardKind
from rules.customers.record import STANDARD_FIELDS, FieldValue


class HistoryError(ValueError):
    """Edits or states that cannot be combined (another customer, a naive time...)."""


@dataclass(frozen=True, order=True)
class Stamp:
    at: datetime
    store: str
    edit_id: str

    def __post_init__(self) -> None:
        if self.at.tzinfo is None or self.at.utcoffset() is None:
            raise HistoryError("an edit's time is timezone-aware")


@dataclass(frozen=True)
class CardLink:
    number: str
    kind: CardKind


@dataclass(frozen=True)
class Edit:
    customer_id: str
    stamp: Stamp
    changes: tuple[tuple[str, FieldValue], ...] = ()
    """Only the fields this edit set (a new customer: the fields given), sorted by name."""
    add_cards: tuple[CardLink, ...] = ()
    retire_cards: tuple[str, ...] = ()
    redacted: tuple[str, ...] = ()
    """After an erasure: the personal fields this edit had set, without their values."""

    @classmethod
    def of(cls, customer_id: str, stamp: Stamp, changes: Mapping[str, FieldValue], *,
           add_cards: Iterable[CardLink] = (), retire_cards: Iterable[str] = ()) -> Edit:
        return cls(customer_id, stamp, tuple(sorted(changes.items())),
                   tuple(sorted(set(add_cards), key=lambda c: (c.number, c.kind.value))),
                   tuple(sorted(set(retire_cards))))


def is_personal(name: str) -> bool:
    spec = STANDARD_FIELDS.get(name)
    return spec is None or spec.personal  # extra answers are personal


@dataclass(frozen=True)
class CustomerState:
    customer_id: str
    edits: frozenset[Edit] = frozenset()
    erased: Stamp | None = None
    merged_from: frozenset[str] = frozenset()
    """Ids of the customers merged into this one (they redirect here)."""

    def fields(self) -> dict[str, FieldValue]:
        """Each field's winning value; blank fields are left out."""
        best: dict[str, FieldValue] = {}
        for edit in self.history():  # oldest first: a later edit overwrites
            best.update(edit.changes)
        return {name: value for name, value in sorted(best.items()) if value is not None}

    def cards(self) -> dict[str, tuple[CardLink, bool]]:
        """Card number -> (the card, whether it is active)."""
        added: dict[str, CardLink] = {}
        retired: set[str] = set()
        for edit in self.history():  # oldest first: the first edit to add a card names it
            for card in edit.add_cards:
                added.setdefault(card.number, card)
            retired.update(edit.retire_cards)
        return {number: (card, self.erased is None and number not in retired)
                for number, card in sorted(added.items())}

    def active_cards(self) -> list[str]:
        return [number for number, (_, active) in self.cards().items() if active]

    def history(self) -> list[Edit]:
        """Every edit, winning or not, oldest first (two different edits under one stamp,
        which a well-behaved store never sends, still come in one fixed order)."""
        return sorted(self.edits, key=lambda e: (e.stamp, repr(e)))

    def field_history(self, name: str) -> list[tuple[Stamp, FieldValue]]:
        return [(e.stamp, dict(e.changes)[name]) for e in self.history()
                if name in dict(e.changes)]

    def created(self) -> Stamp | None:
        return min((e.stamp for e in self.edits), default=None)


def _redact(edit: Edit) -> Edit:
    kept = tuple((n, v) for n, v in edit.changes if not is_personal(n))
    dropped = {n for n, _ in edit.changes if is_personal(n)} | set(edit.redacted)
    return replace(edit, changes=kept, redacted=tuple(sorted(dropped)))


def _normal(state: CustomerState) -> CustomerState:
    if state.erased is None:
        return state
    return replace(state, edits=frozenset(_redact(e) for e in state.edits))


def join(a: CustomerState, b: CustomerState) -> CustomerState:
    """Both copies of one customer combined (the join of the two)."""
    if a.customer_id != b.customer_id:
        raise HistoryError(f"{a.customer_id} and {b.customer_id} are two customers: merge them")
    erasures = [s for s in (a.erased, b.erased) if s is not None]
    return _normal(CustomerState(a.customer_id, a.edits | b.edits,
                                 min(erasures) if erasures else None,
                                 a.merged_from | b.merged_from))


def apply(state: CustomerState, edit: Edit) -> CustomerState:
    """``state`` with ``edit`` (addressed to it, or to a customer merged into it)."""
    if edit.customer_id != state.customer_id:
        if edit.customer_id not in state.merged_from:
            raise HistoryError(f"edit {edit.stamp.edit_id} is for {edit.customer_id}, "
                               f"not {state.customer_id}")
        edit = replace(edit, customer_id=state.customer_id)
    return join(state, CustomerState(state.customer_id, frozenset({edit})))


def fold(customer_id: str, edits: Iterable[Edit]) -> CustomerState:
    """The state the edits make, whatever their order or repetition."""
    state = CustomerState(customer_id)
    for edit in edits:
        state = apply(state, edit)
    return state


def erase(state: CustomerState, stamp: Stamp) -> CustomerState:
    """The customer anonymised: personal fields blank for good, every card retired."""
    return join(state, CustomerState(state.customer_id, erased=stamp))


def resolve(customer_id: str, redirects: Mapping[str, str]) -> str:
    """Where an old id now lives (a merged customer's id leads to its survivor)."""
    seen = {customer_id}
    while customer_id in redirects:
        customer_id = redirects[customer_id]
        if customer_id in seen:
            raise HistoryError(f"redirects loop at {customer_id}")
        seen.add(customer_id)
    return customer_id
