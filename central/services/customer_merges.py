"""Whole customer records at central (K5, K10): merge, erase, export, likely duplicates.

Two customers merge into the one created first (the other id redirects to it); erasure
anonymises for good; the export is everything held about one customer."""

from __future__ import annotations

import datetime as dt
import json
import uuid as uuidlib
from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session, aliased

from central.models import (
    Customer,
    CustomerCard,
    CustomerEdit,
    CustomerMerge,
    CustomerRedirect,
    CustomerSale,
)
from central.services import changelog, points_ledger
from central.services.customer_fields import BUCKET
from central.services.customer_fold import card_wire, iso, redact, refresh, stamp_text, state_of
from central.services.customers import CENTRAL, cards_of, get, wire
from central.services.errors import Conflict
from protocol.streams import ALL
from rules.customers import duplicates, history
from rules.customers.contact import (
    search_key,
)
from rules.customers.history import Stamp

# -- merge and erasure ------------------------------------------------------------------------

def merge(session: Session, a: str, b: str, *, by: str, reason: str = "confirmed") -> Customer:
    """One customer from two: the one created first survives with every edit, card, sale
    and consent of both; the other id redirects to it, at central and at every store."""
    first, second = get(session, a), get(session, b)
    if first.id == second.id:
        raise Conflict("a customer cannot be merged with itself")
    for row in sorted((first, second), key=lambda c: c.id):  # one lock order
        session.scalar(select(Customer).where(Customer.id == row.id).with_for_update())
    states = state_of(session, first), state_of(session, second)
    try:
        survivor_state, loser_state = duplicates.survivor_of(*states)
        merged = duplicates.merge(survivor_state, loser_state)
    except history.HistoryError as exc:
        raise Conflict(str(exc)) from exc
    survivor = first if survivor_state.customer_id == first.id else second
    loser = second if survivor is first else first
    session.execute(update(CustomerEdit).where(CustomerEdit.customer_id == loser.id)
                    .values(customer_id=survivor.id))
    session.execute(update(CustomerCard).where(CustomerCard.customer_id == loser.id)
                    .values(customer_id=survivor.id))
    session.execute(update(CustomerSale).where(CustomerSale.customer_id == loser.id)
                    .values(customer_id=survivor.id))
    session.execute(update(CustomerRedirect).where(CustomerRedirect.survivor == loser.id)
                    .values(survivor=survivor.id))
    for old in merged.redirects:
        redirect = session.get(CustomerRedirect, old) or CustomerRedirect(old=old)
        redirect.survivor = survivor.id
        session.add(redirect)
        session.flush()
        changelog.record(session, BUCKET, ALL, "customer_redirect", old, "upsert",
                         {"old": old, "survivor": survivor.id})
    changelog.record(session, BUCKET, ALL, "customer", loser.id, "delete", None)
    audit = CustomerMerge(survivor=survivor.id, merged=loser.id, by=by, reason=reason)
    session.add(audit)
    session.flush()
    # One usable balance: the merged customer's points move to the survivor's ledger by a
    # transfer keyed by this merge (append-only; the old entries stay where they were).
    moved = points_ledger.transfer_balance(
        session, loser.id, survivor.id, f"merge:{audit.id}",
        f"customer {loser.id} merged into {survivor.id}", dt.datetime.now(dt.UTC))
    audit.points_moved = moved if moved else None
    points_ledger.forget_balance(session, loser.id)  # the stores find the survivor's
    survivor.profile = survivor.profile or loser.profile  # a member stays one
    session.delete(loser)
    session.flush()
    refresh(session, survivor)
    for card in cards_of(session, survivor.id):  # moved cards name the survivor now
        changelog.record(session, BUCKET, ALL, "customer_card", card.number, "upsert",
                         card_wire(card))
    return survivor


def erase(session: Session, customer_id: str, *, by: str,
          now: dt.datetime | None = None) -> Customer:
    """Anonymise for good (K10): personal values dropped from the record and its history,
    every card retired; sales keep their totals. Later edits never bring the data back."""
    customer = get(session, customer_id, lock=True)
    if customer.erased_stamp:
        return customer
    now = now or dt.datetime.now(dt.UTC)
    stamp = Stamp(now, CENTRAL, str(uuidlib.uuid4()))
    customer.erased_stamp, customer.erased_at = stamp_text(stamp), now
    for row in session.scalars(select(CustomerEdit)
                               .where(CustomerEdit.customer_id == customer.id)):
        kept, dropped = redact(json.loads(row.changes))
        row.changes = json.dumps(kept, sort_keys=True)
        row.redacted = json.dumps(sorted(set(dropped) | set(json.loads(row.redacted))))
    session.add(CustomerMerge(survivor=customer.id, merged=customer.id, by=by,
                              reason="erased on request"))
    session.flush()
    refresh(session, customer)
    return customer


def export(session: Session, customer_id: str) -> dict[str, Any]:
    """Everything held about one customer (K10), as JSON-ready data."""
    customer = get(session, customer_id)
    edits = session.scalars(select(CustomerEdit).where(CustomerEdit.customer_id == customer.id)
                            .order_by(CustomerEdit.at, CustomerEdit.store, CustomerEdit.edit_id))
    sales = session.scalars(select(CustomerSale).where(CustomerSale.customer_id == customer.id)
                            .order_by(CustomerSale.at))
    merges = session.scalars(select(CustomerMerge).where(
        CustomerMerge.survivor == customer.id).order_by(CustomerMerge.at))
    return {
        "customer": wire(customer),
        "cards": [card_wire(c) for c in cards_of(session, customer.id)],
        "history": [{"edit": e.edit_id, "at": iso(e.at), "store": e.store,
                     "author": e.author, "changes": json.loads(e.changes),
                     "add_cards": json.loads(e.add_cards),
                     "retire_cards": json.loads(e.retire_cards),
                     "redacted": json.loads(e.redacted)} for e in edits],
        "sales": [{"sale": s.sale_uuid, "at": iso(s.at), "total": str(s.total),
                   "kind": s.kind} for s in sales],
        "merged_from": sorted(session.scalars(select(CustomerRedirect.old).where(
            CustomerRedirect.survivor == customer.id))),
        "audit": [{"merged": m.merged, "by": m.by, "reason": m.reason, "at": iso(m.at),
                   "points_moved": None if m.points_moved is None else str(m.points_moved)}
                  for m in merges],
    }


# -- duplicates ------------------------------------------------------------------------------

def likely_duplicates(session: Session, limit: int = 500) -> list[duplicates.Match]:
    """Pairs of live customers sharing a mobile, an e-mail, or a birth date with a similar
    name (rules.customers.duplicates), strongest first. The database proposes the pairs
    (a self-join on indexed columns), the rules decide."""
    a, b = aliased(Customer), aliased(Customer)
    pairs = session.execute(
        select(a.id, b.id).join(b, and_(a.id < b.id, or_(
            a.mobile == b.mobile, a.email == b.email, a.birth_date == b.birth_date)))
        .where(a.erased_at.is_(None), b.erased_at.is_(None)).limit(limit * 20)).all()
    ids = {i for pair in pairs for i in pair}
    rows = {c.id: c for c in session.scalars(select(Customer).where(Customer.id.in_(ids)))}
    cards: dict[str, set[str]] = {}
    for number, holder in session.execute(select(CustomerCard.number, CustomerCard.customer_id)
                                          .where(CustomerCard.customer_id.in_(ids),
                                                 CustomerCard.active.is_(True))):
        cards.setdefault(holder, set()).add(number)

    def candidate(row: Customer) -> duplicates.Candidate:
        return duplicates.Candidate(row.id, frozenset(cards.get(row.id, ())), row.mobile,
                                    row.email, search_key(row.first_name, row.last_name),
                                    row.birth_date)

    found = [m for x, y in pairs
             if (m := duplicates.compare(candidate(rows[x]), candidate(rows[y]))) is not None]
    return sorted(found, key=lambda m: (-m.score, m.a, m.b))[:limit]
