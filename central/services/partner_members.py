"""A partner programme's member list imported at central (K4, K6, seeds/004).

Each row is a card of the programme (``number``, or a range ``first``/``last``, and
``holder``) and, for a single number, the member: the card becomes one of a customer's
cards (kind partner), so that the card scanned at any till finds that customer while the
programme's discount still applies to it. The member is matched to a customer by the
card, then by ``external_id``, then by the mobile, or created (the holder as its last name
when the list gives no name); the other columns are the record's fields, as in a
customers file. A range is a block of cards with no one member: it only joins the
programme. Importing the same list again changes nothing.

One batch costs one round of queries: the programme's entries for the batch's numbers and
its ranges, then the customers (``customer_imports.CustomerWriter.many``); new entries and
their change-log entries are inserted together.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from central.imports import RowRejected, Statistics
from central.models import PartnerCard
from central.services import changelog, partners
from central.services.customer_imports import (
    BY_CARD,
    BY_EXTERNAL_ID,
    BY_MOBILE,
    EXTERNAL_ID_LENGTH,
    CustomerWriter,
    Plan,
    card_link,
)
from central.tabular import Row
from protocol.streams import ALL

MEMBERS_ORDER = (BY_CARD, BY_EXTERNAL_ID, BY_MOBILE)
NOT_FIELDS = (*partners.CARD_COLUMNS, "external_id", "card", "card_kind")
RANK = {"unchanged": 0, "updated": 1, "created": 2}


def _parse(row: Row) -> tuple[tuple[str, str, str | None], Plan | None]:
    """The row's card entry, and for a single number the member's plan."""
    try:
        first, last, holder = partners.parse_card(
            {k: v for k, v in row.values.items() if k in partners.CARD_COLUMNS})
    except ValueError as exc:
        raise RowRejected(str(exc)) from exc
    if first != last:
        return (first, last, holder), None
    values = {k: v.strip() for k, v in row.values.items()
              if k and k not in NOT_FIELDS and v and v.strip()}
    external = (row.values.get("external_id") or "").strip() or None
    if external is not None and len(external) > EXTERNAL_ID_LENGTH:
        raise RowRejected(f"external_id: at most {EXTERNAL_ID_LENGTH} characters")
    named = "first_name" in values or "last_name" in values
    return (first, last, holder), Plan(
        values, external, [card_link("number", first, "partner")],
        {"last_name": holder[:80]} if holder and not named else {}, card_column="number")


class MemberRows:
    """The row handler of a member list: per row (``__call__``) or per batch."""

    def __init__(self, programme: str, writer: CustomerWriter) -> None:
        self.programme, self.writer = programme, writer
        self.cards = Statistics("partner_cards")
        self.statistics = (self.cards, writer.statistics)

    def __call__(self, session: Session, row: Row) -> str:
        outcome = self.batch(session, [row])[0]
        if isinstance(outcome, RowRejected):
            raise outcome
        return outcome

    def batch(self, session: Session, rows: Sequence[Row]) -> list[str | RowRejected]:
        programme = partners.get_programme(session, self.programme)
        results: list[str | RowRejected | None] = [None] * len(rows)
        entries: dict[int, tuple[str, str, str | None]] = {}
        plans: dict[int, Plan] = {}
        for i, row in enumerate(rows):
            try:
                entries[i], plan = _parse(row)
            except RowRejected as exc:
                results[i] = exc
                continue
            if plan is not None:
                plans[i] = plan
        # The members first: a member refused is a row refused, its card not added either.
        for i, outcome in zip(plans, self.writer.many(session, list(plans.values())),
                              strict=True):
            results[i] = outcome
        firsts = {first for first, _last, _holder in entries.values()}
        known: dict[tuple[str, str], PartnerCard | dict[str, Any]] = {
            (card.first, card.last): card for card in session.scalars(
                select(PartnerCard).where(PartnerCard.programme_id == programme.id,
                                          PartnerCard.first.in_(firsts)))}
        ranges = [(low, high) for low, high in session.execute(
            select(PartnerCard.first, PartnerCard.last).where(
                PartnerCard.programme_id == programme.id, PartnerCard.active.is_(True),
                PartnerCard.first != PartnerCard.last))]
        added: list[dict[str, Any]] = []
        log: list[tuple[str, str, str, dict[str, Any] | None]] = []
        for i, (first, last, holder) in entries.items():
            if isinstance(results[i], RowRejected):
                continue
            card_outcome = self._card(programme, known, ranges, added, log, first, last, holder)
            member = results[i]
            results[i] = (card_outcome if not isinstance(member, str)
                          or RANK[card_outcome] >= RANK[member] else member)
        if added:
            session.execute(insert(PartnerCard), added)
            self.cards.grew(len(added))
        # an entry with no row was never logged (rows are kept, inactive, when removed)
        changelog.record_many(session, partners.BUCKET, ALL, log, new={
            ("partner_card", f"{programme.code}|{c['first']}|{c['last']}") for c in added})
        assert all(r is not None for r in results)
        return results  # type: ignore[return-value]

    @staticmethod
    def _card(programme: Any, known: dict[tuple[str, str], Any], ranges: list[tuple[str, str]],
              added: list[dict[str, Any]], log: list[Any], first: str, last: str,
              holder: str | None) -> str:
        """The programme's entry for [first, last] over the batch's view: a new one is
        ``created`` (unless an active range holds it), a removed one or a new holder
        ``updated``, anything else ``unchanged``."""
        key = f"{programme.code}|{first}|{last}"
        card = known.get((first, last))
        if card is None:
            if any(len(first) == len(low) and low <= first and last <= high
                   for low, high in ranges):
                return "unchanged"
            row = {"programme_id": programme.id, "first": first, "last": last,
                   "holder": holder, "active": True}
            added.append(row)
            known[(first, last)] = row
            if first != last:
                ranges.append((first, last))
            log.append(("partner_card", key, "upsert", {
                "programme": programme.code, "first": first, "last": last, "holder": holder,
                "active": True}))
            return "created"
        get = card.get if isinstance(card, dict) else lambda name: getattr(card, name)
        if get("active") and (holder is None or holder == get("holder")):
            return "unchanged"
        kept = holder or get("holder")
        if isinstance(card, dict):
            card.update(active=True, holder=kept)
        else:
            card.active, card.holder = True, kept
        log.append(("partner_card", key, "upsert", {
            "programme": programme.code, "first": first, "last": last, "holder": kept,
            "active": True}))
        return "updated"


def member_handler(programme: str, *, region: str = "IT", author: str = "import",
                   now: Callable[[], dt.datetime] | None = None) -> MemberRows:
    """The handler of ``programme``'s member list for ``central.imports.run_import``.

    Members are created without head office's mandatory fields (the partner's list seldom
    has them; the till completes the record), and matched by card, external id, mobile.
    """
    return MemberRows(programme, CustomerWriter(region=region, author=author,
                                                order=MEMBERS_ORDER, mandatory=False,
                                                now=now))
