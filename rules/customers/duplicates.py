"""Likely duplicates (K5) and the merge of two customers into one survivor.

Central looks candidates up by its indexes (same card, mobile, e-mail, birth date) and asks
``compare`` how alike two are: an identical active card is the same person, merged at
once; the same mobile, the same e-mail, or a similar name with the same birth date is a
proposal head office confirms. ``merge`` then keeps everything: every edit of both (so
every field's history and every consent), every card, and a redirect from the loser's id
(and the ids merged into it before) to the survivor. Nothing collides, nothing is deleted.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from difflib import SequenceMatcher
from enum import Enum

from rules.customers.contact import email_key, search_key
from rules.customers.history import CustomerState, HistoryError

_NEVER = datetime.max.replace(tzinfo=UTC)
NAME_SIMILARITY = 0.85
"""Ratio of difflib's matcher on the folded names above which two names look alike."""


class Verdict(Enum):
    MERGE = "merge"
    """Same card: one person; merged without asking."""
    PROPOSE = "propose"
    """Listed for head office to confirm or dismiss."""


@dataclass(frozen=True)
class Candidate:
    """What duplicate detection reads of a customer."""

    customer_id: str
    cards: frozenset[str] = frozenset()
    mobile: str | None = None
    email: str | None = None
    name: str = ""
    birth_date: date | None = None

    @classmethod
    def of(cls, state: CustomerState) -> Candidate:
        fields = state.fields()
        mobile, email, birth = fields.get("mobile"), fields.get("email"), fields.get("birth_date")
        first, last = fields.get("first_name"), fields.get("last_name")
        return cls(state.customer_id, frozenset(state.active_cards()),
                   mobile if isinstance(mobile, str) else None,
                   email if isinstance(email, str) else None,
                   search_key(first if isinstance(first, str) else None,
                              last if isinstance(last, str) else None),
                   birth if isinstance(birth, date) else None)


@dataclass(frozen=True)
class Match:
    a: str
    b: str
    verdict: Verdict
    score: int
    reasons: tuple[str, ...]


_WEIGHTS = {"same card": 100, "same mobile": 60, "same e-mail": 60,
            "similar name and same birth date": 50}


def names_alike(a: str, b: str) -> bool:
    if not a or not b:
        return False
    if a == b or sorted(a.split()) == sorted(b.split()):  # "rossi anna" / "anna rossi"
        return True
    return SequenceMatcher(None, a, b).ratio() >= NAME_SIMILARITY


def compare(a: Candidate, b: Candidate) -> Match | None:
    """How ``a`` and ``b`` look alike, or ``None``; symmetric in its verdict and score."""
    if a.customer_id == b.customer_id:
        return None
    reasons = []
    if a.cards & b.cards:
        reasons.append("same card")
    if a.mobile and a.mobile == b.mobile:
        reasons.append("same mobile")
    if a.email and b.email and email_key(a.email) == email_key(b.email):
        reasons.append("same e-mail")
    if a.birth_date and a.birth_date == b.birth_date and names_alike(a.name, b.name):
        reasons.append("similar name and same birth date")
    if not reasons:
        return None
    first, second = sorted((a.customer_id, b.customer_id))
    return Match(first, second, Verdict.MERGE if "same card" in reasons else Verdict.PROPOSE,
                 min(100, sum(_WEIGHTS[r] for r in reasons)), tuple(reasons))


def survivor_of(a: CustomerState, b: CustomerState) -> tuple[CustomerState, CustomerState]:
    """(survivor, loser): the customer created first survives; ties by the smaller id."""
    def key(state: CustomerState) -> tuple[datetime, str]:
        created = state.created()
        return (created.at if created else _NEVER, state.customer_id)
    first, second = sorted((a, b), key=key)
    return first, second


@dataclass(frozen=True)
class Merged:
    survivor: CustomerState
    redirects: dict[str, str]
    """Old id -> survivor id, for every store and every till still holding an old id."""


def merge(survivor: CustomerState, loser: CustomerState) -> Merged:
    """One customer from two: all edits, cards and merged ids of both under the survivor."""
    if survivor.customer_id == loser.customer_id:
        raise HistoryError("a customer cannot be merged with itself")
    for state in (survivor, loser):
        if state.erased is not None:
            raise HistoryError(f"{state.customer_id} is erased and cannot be merged")
    moved = frozenset(replace(e, customer_id=survivor.customer_id) for e in loser.edits)
    gone = loser.merged_from | {loser.customer_id}
    state = replace(survivor, edits=survivor.edits | moved,
                    merged_from=survivor.merged_from | gone)
    return Merged(state, {old: survivor.customer_id for old in sorted(gone)})
