"""Per-customer totals from the sales central ingests: spend, visits, basket, first/last.

``Aggregates`` is a commutative monoid: ``combine`` adds two (two stores' sales, or two
merged customers), ``EMPTY`` is its unit, so totals do not depend on the order sales
arrive in. ``of`` counts each sale id once, whatever the replays. A return subtracts its
amount from the spend and is not a visit; first and last purchase are the times of sales.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Literal

from rules.money import round_money, to_decimal


@dataclass(frozen=True)
class SaleFact:
    sale_id: str
    at: datetime
    total: Decimal
    """The amount paid (a return: the amount given back), positive, VAT included."""
    kind: Literal["sale", "return"] = "sale"

    def __post_init__(self) -> None:
        to_decimal(self.total, "total")
        if self.total < 0:
            raise ValueError(f"sale {self.sale_id}: a total is positive; a return says so "
                             "with its kind")
        if self.at.tzinfo is None:
            raise ValueError(f"sale {self.sale_id}: the time is timezone-aware")


@dataclass(frozen=True)
class Aggregates:
    total_spend: Decimal = Decimal("0")
    visits: int = 0
    returns: int = 0
    first_purchase: datetime | None = None
    last_purchase: datetime | None = None

    @property
    def average_basket(self) -> Decimal | None:
        """Spend per visit to the cent; ``None`` before the first visit."""
        if not self.visits:
            return None
        return round_money(self.total_spend / self.visits)

    def combine(self, other: Aggregates) -> Aggregates:
        return Aggregates(self.total_spend + other.total_spend, self.visits + other.visits,
                          self.returns + other.returns,
                          _earlier(self.first_purchase, other.first_purchase),
                          _later(self.last_purchase, other.last_purchase))

    @classmethod
    def of_sale(cls, fact: SaleFact) -> Aggregates:
        if fact.kind == "return":
            return cls(total_spend=-fact.total, returns=1)
        return cls(fact.total, 1, 0, fact.at, fact.at)

    @classmethod
    def of(cls, facts: Iterable[SaleFact]) -> Aggregates:
        """The totals of ``facts``, each sale id counted once."""
        seen: dict[str, SaleFact] = {}
        for fact in facts:
            earlier = seen.setdefault(fact.sale_id, fact)
            if earlier != fact:
                raise ValueError(f"sale {fact.sale_id} arrived twice with different contents")
        result = EMPTY
        for fact in seen.values():
            result = result.combine(cls.of_sale(fact))
        return result


EMPTY = Aggregates()


def _earlier(a: datetime | None, b: datetime | None) -> datetime | None:
    return b if a is None else a if b is None else min(a, b)


def _later(a: datetime | None, b: datetime | None) -> datetime | None:
    return b if a is None else a if b is None else max(a, b)
