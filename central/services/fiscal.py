"""Fiscal receipts at central: the ``fiscal`` upstream kind's handler.

A store reports the fiscal receipt of a sale after fiscalising it (a ``fiscal`` outbox
entry after the sale's own); central notes it on the sale. The same report twice (a resend
under a new epoch) writes the same values again.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session

from central.models import Sale, Store
from central.services.upstream import Parked, Recorded
from protocol import upstream as upstream_kinds
from protocol.encoding import dumps


class FiscalHandler:
    """Notes each receipt on its sale; a receipt of a sale central lacks is parked."""

    kind = "fiscal"
    after = frozenset({"sale"})  # names its sale, an earlier entry

    def read(self, entry: dict[str, Any], store: Store) -> dict[str, Any]:
        return upstream_kinds.read("fiscal", entry["body"])

    def record(self, session: Session, store: Store, epoch: str,
               items: list[tuple[dict[str, Any], Any]]) -> Recorded:
        parked = [Parked(seq=None, reason=f"fiscal receipt of sale {receipt['sale']}, "
                         "which central does not hold for this store",
                         payload=dumps(receipt).decode())
                  for _entry, receipt in items if not _note(session, store, receipt)]
        return Recorded(parked=parked)

    def held(self, session: Session, store: Store, epoch: str,
             seqs: list[int]) -> dict[int, str]:
        return {}  # a note on its sale: no record of its own at a seq


def _note(session: Session, store: Store, receipt: dict[str, Any]) -> bool:
    done = session.execute(
        update(Sale).where(Sale.uuid == str(receipt["sale"]), Sale.store_id == store.id)
        .values(fiscal_document=receipt["document_number"],
                fiscal_receipt=receipt["receipt_number"], fiscal_device=receipt["device"],
                fiscalised_at=receipt["fiscalised_at"]))
    return bool(done.rowcount)
