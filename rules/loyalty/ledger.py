"""The points ledger (SPEC L5): append-only entries, the balance is their sum.

Every entry has a natural key (:class:`EntryKey`): its kind, its document (a sale, a
return, an adjustment's id), the line of that document, and for a reversal or an expiry
the kind of the entry it undoes. Applying entries is idempotent: an entry whose key is
already there with the same content is a duplicate and changes nothing (a store that
sends a sale twice, a retry after a lost reply); the same key with other content is a
:class:`ConflictingEntry`, never an overwrite.

A **reversal** names the entry it gives back and carries exactly its points with the
opposite sign, never a recomputation; an entry is reversed at most once (a refund never
deducts twice). Returning a line that earned takes its points back even when they were
spent meanwhile (the balance may go negative and head office sees it); returning a gift
line gives back the points the gift spent.

A **transfer** moves a balance between two customers' ledgers when they are merged: one
entry out of the merged customer's ledger and one into the survivor's, both keyed by the
merge (:func:`transfer_entries`), so the survivor has one usable balance, the merged
customer's entries stay where they were, and recording the merge again adds nothing.

**Offline spending**: a store may spend, for a customer, the last balance it knows minus
its own spends not yet acknowledged by central (its provisional earns do not count: central
may recompute them). Two offline stores may together overspend: the balance goes
negative, nothing is refused after the fact.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from rules.loyalty.accrual import Accrual
from rules.loyalty.errors import InvalidEntry, LedgerError

ZERO = Decimal(0)
EntryKind = Literal["earn", "spend", "adjustment", "reversal", "expiry", "transfer"]
KINDS = ("earn", "spend", "adjustment", "reversal", "expiry", "transfer")
REVERSIBLE = frozenset({"earn", "spend", "adjustment"})


class ConflictingEntry(LedgerError):
    """An entry whose key is in the ledger already, with other content."""


class AlreadyReversed(LedgerError):
    """A reversal of an entry that was reversed before."""


@dataclass(frozen=True, order=True)
class EntryKey:
    kind: str
    document: str
    line: int
    of: str = ""
    """Reversal and expiry: the kind of the entry they undo."""

    def __str__(self) -> str:
        suffix = f"/{self.of}" if self.of else ""
        return f"{self.kind}{suffix}:{self.document}#{self.line}"


@dataclass(frozen=True)
class Entry:
    kind: EntryKind
    document: str
    line: int
    customer: str
    points: Decimal
    at: dt.datetime
    store: str | None = None
    profile_version: int | None = None
    reason: str = ""
    refers_to: EntryKey | None = None
    """Reversal: the entry given back. Expiry: the entry whose points expire."""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise InvalidEntry("kind", f"must be one of {', '.join(KINDS)}")
        if not isinstance(self.points, Decimal) or not self.points.is_finite():
            raise InvalidEntry("points", "must be a finite decimal")
        if not self.document:
            raise InvalidEntry("document", "is required")
        if self.at.tzinfo is None:
            raise InvalidEntry("at", "needs a UTC offset")
        if self.kind == "earn" and self.points < 0:
            raise InvalidEntry("points", "an earn cannot be negative")
        if self.kind in ("spend", "expiry") and self.points > 0:
            raise InvalidEntry("points", f"a {self.kind} cannot be positive")
        if self.kind == "adjustment" and (self.points == 0 or not self.reason.strip()):
            raise InvalidEntry("reason" if self.points else "points",
                               "an adjustment needs a reason and non-zero points")
        if self.kind == "transfer" and (self.points == 0 or not self.reason.strip()):
            raise InvalidEntry("reason" if self.points else "points",
                               "a transfer needs a reason and non-zero points")
        if self.kind in ("reversal", "expiry") and self.refers_to is None:
            raise InvalidEntry("refers_to", f"a {self.kind} names the entry it undoes")

    @property
    def key(self) -> EntryKey:
        of = self.refers_to.kind if self.refers_to is not None else ""
        return EntryKey(self.kind, self.document, self.line, of)


def balance(entries: Iterable[Entry]) -> Decimal:
    return sum((entry.points for entry in entries), ZERO)


@dataclass(frozen=True)
class Applied:
    ledger: Ledger
    added: tuple[Entry, ...]
    duplicates: tuple[Entry, ...]


@dataclass(frozen=True)
class Ledger:
    """One customer's entries, in the order they were applied."""

    customer: str
    entries: tuple[Entry, ...] = ()

    @property
    def balance(self) -> Decimal:
        return balance(self.entries)

    def get(self, key: EntryKey) -> Entry | None:
        return next((e for e in self.entries if e.key == key), None)

    def apply(self, batch: Iterable[Entry]) -> Applied:
        """The ledger with ``batch`` applied; duplicates skipped, anything wrong refused.

        The batch is all or nothing: a refused entry raises and nothing of the batch is
        applied (the caller parks it with the error and keeps what was accepted before).
        """
        by_key = {e.key: e for e in self.entries}
        reversed_keys = {e.refers_to for e in self.entries if e.kind == "reversal"}
        added: list[Entry] = []
        duplicates: list[Entry] = []
        for entry in batch:
            if entry.customer != self.customer:
                raise LedgerError(f"entry {entry.key} is for customer {entry.customer!r}, "
                                  f"not {self.customer!r}")
            known = by_key.get(entry.key)
            if known is not None:
                if known != entry:
                    raise ConflictingEntry(f"entry {entry.key} is already in the ledger "
                                           "with other content")
                duplicates.append(entry)
                continue
            if entry.refers_to is not None:
                _check_reference(entry, by_key.get(entry.refers_to), reversed_keys)
                if entry.kind == "reversal":
                    reversed_keys.add(entry.refers_to)
            by_key[entry.key] = entry
            added.append(entry)
        ledger = Ledger(self.customer, self.entries + tuple(added))
        return Applied(ledger, tuple(added), tuple(duplicates))


def _check_reference(entry: Entry, target: Entry | None,
                     reversed_keys: set[EntryKey | None]) -> None:
    if target is None:
        raise LedgerError(f"{entry.key} refers to {entry.refers_to}, which is not in the ledger")
    if entry.kind == "reversal":
        if target.kind not in REVERSIBLE:
            raise LedgerError(f"{entry.key}: a {target.kind} cannot be reversed")
        if entry.refers_to in reversed_keys:
            raise AlreadyReversed(f"{target.key} was already reversed")
        if entry.points != -target.points:
            raise LedgerError(f"{entry.key} gives back {entry.points} points, but "
                              f"{target.key} carried {target.points}")
    elif entry.kind == "expiry" and target.points <= 0:
        raise LedgerError(f"{entry.key}: only entries that added points expire")


def earn_entries(accrual: Accrual, customer: str, at: dt.datetime, *,
                 store: str | None = None,
                 profile_version: int | None = None) -> tuple[Entry, ...]:
    """One earn entry per line that earned; none when the profile keeps no balance."""
    if not accrual.books_balance:
        return ()
    return tuple(Entry("earn", accrual.document_id, line.line, customer, line.points, at,
                       store, profile_version, "points earned")
                 for line in accrual.lines if line.points > 0)


def spend_entry(document: str, line: int, customer: str, points: Decimal, at: dt.datetime,
                *, store: str | None = None, profile_version: int | None = None,
                reason: str = "gift") -> Entry:
    """The entry of points spent on a sale line (a gift): ``points`` is what it costs."""
    return Entry("spend", document, line, customer, -points, at, store, profile_version,
                 reason)


def reverse(ledger: Ledger, return_document: str,
            lines: Sequence[tuple[int, EntryKey]], at: dt.datetime, *,
            store: str | None = None, reason: str = "return") -> tuple[Entry, ...]:
    """Reversals of the entries named, one per (return line, entry key), exactly opposite."""
    result = []
    for return_line, key in lines:
        original = ledger.get(key)
        if original is None:
            raise LedgerError(f"nothing to reverse: {key} is not in the ledger")
        result.append(Entry("reversal", return_document, return_line, ledger.customer,
                            -original.points, at, store, original.profile_version, reason,
                            refers_to=key))
    return tuple(result)


def reverse_sale_lines(ledger: Ledger, sale_document: str, return_document: str,
                       returned: Sequence[tuple[int, int]], at: dt.datetime, *,
                       store: str | None = None) -> tuple[Entry, ...]:
    """Reversals of every earn and spend of the sale lines returned.

    ``returned`` pairs a return line with the sale line it returns. Lines that earned
    nothing have nothing to reverse.
    """
    named = []
    for return_line, sale_line in returned:
        for kind in ("earn", "spend"):
            key = EntryKey(kind, sale_document, sale_line)
            if ledger.get(key) is not None:
                named.append((return_line, key))
    return reverse(ledger, return_document, named, at, store=store)


def transfer_entries(document: str, source: str, target: str, points: Decimal,
                     at: dt.datetime, *, reason: str) -> tuple[Entry, Entry]:
    """``points`` out of ``source``'s ledger and into ``target``'s, both keyed by
    ``document`` (a merge): the pair nets to zero across the two ledgers.

    >>> out, into = transfer_entries("merge:7", "a", "b", Decimal(40), dt.datetime(
    ...     2026, 1, 1, tzinfo=dt.UTC), reason="merged")
    >>> (out.customer, out.points, into.customer, into.points)
    ('a', Decimal('-40'), 'b', Decimal('40'))
    """
    if source == target:
        raise LedgerError("a transfer moves points between two customers")
    return (Entry("transfer", document, 1, source, -points, at, reason=reason),
            Entry("transfer", document, 1, target, points, at, reason=reason))


def offline_allowance(known_balance: Decimal, pending: Iterable[Entry]) -> Decimal:
    """What a store may spend offline: its last known balance minus its unacknowledged spends.

    ``pending`` are the store's own entries for the customer not yet acknowledged by
    central; only what they take away counts (spends, negative adjustments).
    """
    spent = sum((-e.points for e in pending if e.points < 0), ZERO)
    return max(ZERO, known_balance - spent)
