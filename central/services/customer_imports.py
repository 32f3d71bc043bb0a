"""Customer imports at central (K6): the row handler that ``central.imports.run_import`` calls.

One customer per row, matched so that importing the same file again changes nothing."""

from __future__ import annotations

import datetime as dt
import uuid as uuidlib
from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from central.models import (
    Customer,
)
from central.services.customer_fields import policy
from central.services.customer_fold import state_of
from central.services.customers import CENTRAL, apply_edit, find
from central.services.errors import Conflict, Invalid
from rules.customers.record import (
    Consent,
    CustomerInvalid,
    FieldValue,
    clean_changes,
)

# -- imports (K6) -----------------------------------------------------------------------------

IMPORT_KEYS = ("external_id", "card", "card_kind")
"""Columns of an import file that are not record fields: the file's own id for the
customer, a card number and its kind (loyalty by default)."""


def _same(old: FieldValue, new: FieldValue) -> bool:
    if isinstance(old, Consent) and isinstance(new, Consent):
        return old.granted == new.granted  # the date of a repeated yes is not news
    return old == new


def _problems(errors: Mapping[str, list[str]]) -> str:
    return "; ".join(f"{field}: {', '.join(messages)}" for field, messages in errors.items())


def row_handler(*, region: str = "IT", author: str = "import",
                now: Callable[[], dt.datetime] | None = None) -> Callable[[Session, Any], str]:
    """A row handler for ``central.imports.run_import``: one customer per row.

    Matched by ``external_id``, else by the card, else by the mobile: importing the same
    file again finds every customer and, nothing being new, writes nothing (``unchanged``).
    Blank cells leave a field as it is. A row that does not validate is rejected with the
    reason naming each field, and nothing of it is kept.
    """
    from central.imports import RowRejected

    clock = now or (lambda: dt.datetime.now(dt.UTC))

    def handle(session: Session, row: Any) -> str:
        values = {k: v.strip() for k, v in row.values.items() if k and v and v.strip()}
        external = values.pop("external_id", None)
        number = values.pop("card", None)
        kind = values.pop("card_kind", "loyalty")
        cards = [{"number": number, "kind": kind}] if number else []
        customer = None
        if external:
            customer = session.scalar(select(Customer).where(Customer.external_id == external))
        if customer is None and number:
            customer = find(session, card=number)
        if customer is None and values.get("mobile"):
            customer = find(session, mobile=values["mobile"], region=region)
        try:
            if customer is None:
                made, _ = apply_edit(session, str(uuidlib.uuid4()), values, at=clock(),
                                     store=CENTRAL, add_cards=cards, region=region,
                                     author=author)
                made.external_id = external
                return "created"
            if customer.erased_at is not None:
                raise RowRejected(f"customer {customer.id} was erased: not imported again")
            state = state_of(session, customer)
            current = state.fields()
            clean = clean_changes(values, policy(session, mandatory=False), region=region,
                                  at=clock(), store=CENTRAL, current=current)
            changed = {k: values[k] for k, v in clean.items() if not _same(current.get(k), v)}
            held = {n for n, (_link, active) in state.cards().items() if active}
            new_cards = [c for c in cards if "".join(c["number"].split()) not in held]
            if not changed and not new_cards and (not external
                                                  or customer.external_id == external):
                return "unchanged"
            apply_edit(session, customer.id, changed, at=clock(), store=CENTRAL,
                       add_cards=new_cards, region=region, author=author, mandatory=False)
            if external:
                customer.external_id = external
            return "updated"
        except CustomerInvalid as exc:
            raise RowRejected("; ".join(f"{k}: {v}" for k, v in exc.problems.items())) from exc
        except (Invalid, Conflict) as exc:
            raise RowRejected(_problems(exc.errors) or exc.message) from exc

    return handle
