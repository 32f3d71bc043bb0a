"""Points expiry, only when a profile sets a policy (seeds/000: by default points never expire).

Every entry that adds points (an earn, a positive adjustment, a reversal giving a gift's
points back) is a lot that expires ``days`` after its moment. Whatever takes points away
takes them from the oldest lots first (a reversal of an earn takes its own lot first),
so the points that expire are the customer's oldest unspent ones. A debt (a balance that
went negative, e.g. two offline stores spending together) is repaid by the next lots
before they can expire. Expiry is itself a ledger entry naming the lot, keyed by it, so
computing it again never books it twice; a booked expiry is final.

Example: 100 points earned on 1 March and 50 on 1 June, 120 spent on 1 July, a 365-day
policy: on 1 March next year the March lot has nothing left (100 of the 120 spent came
from it) and nothing expires; on 1 June the June lot expires its 30 remaining points.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from rules.loyalty.errors import InvalidPolicy
from rules.loyalty.ledger import ZERO, Entry, EntryKey, Ledger


@dataclass(frozen=True)
class ExpiryPolicy:
    days: int

    def __post_init__(self) -> None:
        if isinstance(self.days, bool) or not isinstance(self.days, int) or self.days <= 0:
            raise InvalidPolicy("days", "points expire after a whole number of days above 0")


@dataclass
class _Lot:
    entry: Entry
    left: Decimal
    expired: bool = False


def expiry_entries(ledger: Ledger, policy: ExpiryPolicy | None,
                   now: dt.datetime) -> tuple[Entry, ...]:
    """The expiry entries due by ``now`` that the ledger does not have yet."""
    if policy is None:
        return ()
    period = dt.timedelta(days=policy.days)
    booked = {e.refers_to for e in ledger.entries if e.kind == "expiry"}
    lots: dict[EntryKey, _Lot] = {}  # in insertion order: oldest first
    debt = ZERO
    due: list[Entry] = []

    def take(amount: Decimal, first: EntryKey | None) -> Decimal:
        """Take ``amount`` from the lots (``first`` first, then oldest); what is left over."""
        keys = ([first] if first is not None and first in lots else []) + list(lots)
        for key in keys:
            lot = lots[key]
            part = min(lot.left, amount)
            lot.left -= part
            amount -= part
            if amount <= 0:
                break
        return amount

    def expire_until(moment: dt.datetime) -> None:
        for key, lot in lots.items():
            expires = lot.entry.at + period
            if lot.expired or key in booked or expires > moment:
                continue
            lot.expired = True
            if lot.left > 0:
                e = lot.entry
                due.append(Entry("expiry", e.document, e.line, ledger.customer, -lot.left,
                                 expires, e.store, e.profile_version,
                                 f"points of {e.at.date().isoformat()} expired",
                                 refers_to=key))
                lot.left = ZERO

    for entry in sorted(ledger.entries, key=lambda e: (e.at, e.key)):
        expire_until(entry.at)
        if entry.points > 0:
            repaid = min(debt, entry.points)
            debt -= repaid
            lots[entry.key] = _Lot(entry, entry.points - repaid)
        elif entry.points < 0:
            debt += take(-entry.points, entry.refers_to)
    expire_until(now)
    return tuple(due)
