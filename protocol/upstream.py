"""Upstream entry kinds: what a store's outbox may carry to central, registered once.

A store writes an entry with ``store_agent.sync.outbox.append(conn, kind, ...)``, which refuses a
kind not registered here; central reads each entry's body with the kind's ``read`` and hands
it to its handler for the kind (``central.services.upstream``). An entry of a kind that
central has no handler for (a newer agent) is parked there with the reason, never lost.

Entries of one store travel in its one seq order whatever their kind: a kind that names
entries of another kind (a fiscal receipt names its sale) is written after them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from protocol.encoding import WireError
from protocol.messages import parse_customer_edit, parse_fiscal, parse_sale
from protocol.till_entries import parse_answer, parse_footfall, parse_seen


@dataclass(frozen=True)
class EntryKind:
    """One kind of upstream entry: its name on the wire and the reader of its body."""

    name: str
    read: Callable[[dict[str, Any]], dict[str, Any]]  # validated body, or WireError
    doc: str


KINDS: dict[str, EntryKind] = {kind.name: kind for kind in (
    EntryKind("customer", parse_customer_edit, "a customer created or edited at the store "
              "(messages.CustomerEditSchema); id = the edit's UUID; written before any "
              "sale that names the customer"),
    EntryKind("sale", parse_sale, "a completed sale (messages.SaleSchema); id = sale UUID"),
    EntryKind("fiscal", parse_fiscal, "the fiscal receipt of an earlier sale "
              "(messages.FiscalEntrySchema); id = 'fiscal:' + sale UUID"),
    EntryKind("seen", parse_seen, "a cashier saw an instruction at the till "
              "(till_entries.SeenSchema); id = 'seen:' + instruction + ':' + cashier"),
    EntryKind("footfall", parse_footfall, "a people counter's in/out counts of one interval "
              "(till_entries.FootfallSchema); id = 'footfall:' + counter + ':' + start"),
    EntryKind("answer", parse_answer, "a customer's survey answers after a sale, after the "
              "sale's entry (till_entries.AnswerSchema); id = 'answer:' + sale UUID"),
)}


class UnknownEntryKind(WireError):
    """An entry kind this protocol version does not define."""


def kind(name: str) -> EntryKind:
    """The registered kind ``name``; UnknownEntryKind otherwise."""
    try:
        return KINDS[name]
    except KeyError:
        raise UnknownEntryKind(f"unknown upstream entry kind {name!r}") from None


def read(name: str, body: dict[str, Any]) -> dict[str, Any]:
    """The validated body of an entry of kind ``name`` (WireError with the reason)."""
    return kind(name).read(body)
