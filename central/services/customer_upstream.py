"""Customers from stores over MQTT (K5): the ``customer`` upstream kind and ``find_customer``.

The first records edits made at stores; the second answers a card, mobile or e-mail the
store's copy does not hold yet."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from central.models import (
    CustomerEdit,
    Store,
)
from central.services.customer_fold import card_wire
from central.services.customers import apply_edit, cards_of, find, region_of, wire
from central.services.errors import Conflict, Invalid
from central.services.upstream import Item, Parked, Recorded
from protocol import upstream as upstream_kinds
from protocol.encoding import WireError, dumps

# -- the ``customer`` upstream kind -----------------------------------------------------------

class CustomerHandler:
    """Edits made at stores: applied once by edit id, by the field-by-field rule."""

    kind = "customer"
    after: frozenset[str] = frozenset()

    def read(self, entry: dict[str, Any], store: Store) -> dict[str, Any]:
        body = upstream_kinds.read("customer", entry["body"])
        if body["store"] != store.code:
            raise WireError(f"customer edit names store {body['store']!r} but came from "
                            f"{store.code!r}")
        if str(body["edit"]) != entry["id"]:
            raise WireError(f"customer entry id {entry['id']!r} is not its edit's id")
        return body

    def record(self, session: Session, store: Store, epoch: str,
               items: list[Item]) -> Recorded:
        done = Recorded()
        region = region_of(store)
        for entry, body in items:
            savepoint = session.begin_nested()
            try:
                _, new = apply_edit(
                    session, str(body["customer"]), body["changes"], at=body["at"],
                    store=body["store"], edit_id=str(body["edit"]),
                    add_cards=body["add_cards"], retire_cards=body["retire_cards"],
                    region=region, author=f"store {store.code}", mandatory=False,
                    epoch=epoch, seq=entry["seq"], on_card_taken="merge")
            except (Invalid, Conflict) as exc:
                savepoint.rollback()
                detail = "; ".join(f"{k}: {', '.join(v)}" for k, v in exc.errors.items())
                done.parked.append(Parked(seq=entry["seq"],
                                          reason=f"{exc.message}: {detail or exc.message}",
                                          payload=dumps(entry).decode()))
                continue
            savepoint.commit()
            if new:
                done.applied += 1
            else:
                done.duplicates += 1
        return done

    def held(self, session: Session, store: Store, epoch: str,
             seqs: list[int]) -> dict[int, str]:
        return {seq: edit_id for seq, edit_id in session.execute(
            select(CustomerEdit.seq, CustomerEdit.edit_id).where(
                CustomerEdit.store_epoch == epoch, CustomerEdit.seq.in_(seqs),
                CustomerEdit.store == store.code)).all() if seq is not None}


class FindCustomerHandler:
    """``find_customer``: a customer the store's copy does not hold yet."""

    kind = "find_customer"

    def answer(self, session: Session, store: Store, body: dict[str, Any],
               now: dt.datetime) -> dict[str, Any]:
        customer = find(session, card=body.get("card"), mobile=body.get("mobile"),
                        email=body.get("email"), region=region_of(store))
        if customer is None:
            return {"found": False, "customer": None, "cards": []}
        return {"found": True, "customer": wire(customer),
                "cards": [card_wire(c) for c in cards_of(session, customer.id)]}
