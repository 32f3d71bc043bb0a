"""Instructions to tills (SPEC S4) and each store's message to the seller.

Head office writes an instruction for some stores, some store groups, or one cashier (then
the stores that cashier works at); the stores are resolved when it is saved and each one's
own ``store-config@s:{store}`` stream carries it (a store no longer concerned gets a delete).
A till records that its cashier saw an instruction with a ``seen`` upstream entry, which
:class:`SeenHandler` records once per instruction, store and cashier.

Store groups are resolved when the instruction is saved: a store that joins a group later
gets the group's instructions when they are next saved (or copied to it).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from central.models import (
    Instruction,
    InstructionSeen,
    SellerMessage,
    Store,
    StoreGroup,
)
from central.services import bulk, cashiers, changelog
from central.services.errors import Invalid, NotFound
from central.services.stores import BUCKET, get_store
from central.services.upstream import Item, Parked, Recorded
from protocol import upstream as upstream_kinds
from protocol.encoding import dumps
from protocol.streams import Scope

ENTITY = "instruction"
SELLER_ENTITY = "seller_message"
MAX_TEXT = 2000
MAX_SELLER_TEXT = 500


def wire(instruction: Instruction) -> dict[str, Any]:
    """What a store's stream carries (protocol.entities.InstructionData)."""
    return {"id": str(instruction.id), "text": instruction.text, "scroll": instruction.scroll,
            "valid_from": _iso(instruction.valid_from),
            "valid_until": _iso(instruction.valid_until),
            "cashier": instruction.cashier.code if instruction.cashier else None}


def _iso(at: dt.datetime | None) -> str | None:
    return at.astimezone(dt.UTC).isoformat() if at is not None else None


def view(instruction: Instruction) -> dict[str, Any]:
    return {**wire(instruction), "id": instruction.id,
            "stores": [s.code for s in instruction.stores],
            "groups": [g.code for g in instruction.groups],
            "sent_to": [s.code for s in instruction.sent_to],
            "created_at": _iso(instruction.created_at)}


def _check(text: str, valid_from: dt.datetime | None, valid_until: dt.datetime | None) -> str:
    text = text.strip()
    if not text:
        raise Invalid("the instruction is empty", {"text": ["required"]})
    if len(text) > MAX_TEXT:
        raise Invalid(f"the instruction is longer than {MAX_TEXT} characters",
                      {"text": [f"at most {MAX_TEXT} characters"]})
    for name, at in (("valid_from", valid_from), ("valid_until", valid_until)):
        if at is not None and at.tzinfo is None:
            raise Invalid(f"{name} needs a time zone", {name: ["an aware time"]})
    if valid_from and valid_until and valid_until <= valid_from:
        raise Invalid("the instruction ends before it starts",
                      {"valid_until": ["after valid_from"]})
    return text


def _stores(session: Session, codes: Iterable[str]) -> list[Store]:
    wanted = sorted(set(codes))
    found = list(session.scalars(select(Store).where(Store.code.in_(wanted)))) if wanted else []
    missing = sorted(set(wanted) - {s.code for s in found})
    if missing:
        raise Invalid(f"unknown store(s): {', '.join(missing)}",
                      {"stores": [f"unknown store {c!r}" for c in missing]})
    return sorted(found, key=lambda s: s.code)


def _groups(session: Session, codes: Iterable[str]) -> list[StoreGroup]:
    wanted = sorted(set(codes))
    found = list(session.scalars(select(StoreGroup).where(StoreGroup.code.in_(wanted)))) \
        if wanted else []
    missing = sorted(set(wanted) - {g.code for g in found})
    if missing:
        raise Invalid(f"unknown store group(s): {', '.join(missing)}",
                      {"groups": [f"unknown group {c!r}" for c in missing]})
    return sorted(found, key=lambda g: g.code)


def _targets(session: Session, instruction: Instruction) -> list[Store]:
    """The stores concerned: those named, the members of the groups named, and the stores
    of the cashier named."""
    found = {s.id: s for s in instruction.stores}
    group_ids = [g.id for g in instruction.groups]
    if group_ids:
        for store in session.scalars(select(Store).where(Store.group_id.in_(group_ids))):
            found[store.id] = store
    if instruction.cashier is not None:
        for store in instruction.cashier.stores:
            found[store.id] = store
    return sorted(found.values(), key=lambda s: s.code)


def _publish(session: Session, instruction: Instruction) -> None:
    before = {s.code for s in instruction.sent_to}
    targets = _targets(session, instruction)
    if not targets:
        raise Invalid("the instruction reaches no store: name stores, groups or a cashier "
                      "who works at a store", {"stores": ["no store concerned"]})
    instruction.sent_to = targets
    for code in sorted(before - {s.code for s in targets}):
        changelog.record(session, BUCKET, Scope("store", code), ENTITY, str(instruction.id),
                         "delete", None)
    data = wire(instruction)
    for store in targets:
        changelog.record(session, BUCKET, Scope("store", store.code), ENTITY,
                         str(instruction.id), "upsert", data)


def get(session: Session, instruction_id: int) -> Instruction:
    instruction = session.get(Instruction, instruction_id)
    if instruction is None:
        raise NotFound(f"no instruction {instruction_id}")
    return instruction


def list_instructions(session: Session, page: int, size: int,
                      store: str | None = None) -> tuple[list[Instruction], int]:
    query = select(Instruction)
    if store:
        query = query.where(Instruction.sent_to.any(Store.code == store))
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(query.order_by(Instruction.id.desc())
                           .offset((page - 1) * size).limit(size))
    return list(rows), total


def create(session: Session, text: str, *, stores: Iterable[str] = (),
           groups: Iterable[str] = (), cashier: str | None = None, scroll: bool = False,
           valid_from: dt.datetime | None = None,
           valid_until: dt.datetime | None = None) -> Instruction:
    """A new instruction for ``stores`` + ``groups``, or for one ``cashier`` alone."""
    stores, groups = list(stores), list(groups)
    if cashier and (stores or groups):
        raise Invalid("an instruction goes to stores and groups, or to one cashier",
                      {"cashier": ["not with stores or groups"]})
    instruction = Instruction(
        text=_check(text, valid_from, valid_until), scroll=scroll, valid_from=valid_from,
        valid_until=valid_until, stores=_stores(session, stores),
        groups=_groups(session, groups),
        cashier=_cashier(session, cashier) if cashier else None, sent_to=[])
    session.add(instruction)
    session.flush()
    _publish(session, instruction)
    session.flush()
    return instruction


def _cashier(session: Session, code: str) -> Any:
    """The cashier an instruction names: an unknown one is the body's fault (422)."""
    cashier = cashiers.find(session, code)
    if cashier is None:
        raise Invalid(f"no cashier {code!r}", {"cashier": [f"no cashier {code!r}"]})
    return cashier


def update(session: Session, instruction_id: int, changes: dict[str, Any]) -> Instruction:
    """Change text, scroll, validity or targets; every store concerned hears of it."""
    instruction = get(session, instruction_id)
    if "text" in changes and changes["text"] is not None:
        instruction.text = changes["text"]
    if changes.get("scroll") is not None:
        instruction.scroll = bool(changes["scroll"])
    for name in ("valid_from", "valid_until"):
        if name in changes:
            setattr(instruction, name, changes[name])
    instruction.text = _check(instruction.text, instruction.valid_from,
                              instruction.valid_until)
    if changes.get("stores") is not None:
        instruction.stores = _stores(session, changes["stores"])
    if changes.get("groups") is not None:
        instruction.groups = _groups(session, changes["groups"])
    if "cashier" in changes:
        instruction.cashier = _cashier(session, changes["cashier"]) \
            if changes["cashier"] else None
    if instruction.cashier and (instruction.stores or instruction.groups):
        raise Invalid("an instruction goes to stores and groups, or to one cashier",
                      {"cashier": ["not with stores or groups"]})
    session.flush()
    _publish(session, instruction)
    session.flush()
    return instruction


def end(session: Session, instruction_id: int, now: dt.datetime) -> Instruction:
    """Withdraw an instruction now (its validity ends; the tills stop showing it)."""
    instruction = get(session, instruction_id)
    starts = instruction.valid_from
    return update(session, instruction_id, {
        "valid_until": now, "valid_from": starts if starts and starts < now else None})


def copy(session: Session, instruction_id: int, stores: Iterable[str]) -> Instruction:
    """The same instruction (text, scroll, validity) as a new one for other ``stores``."""
    source = get(session, instruction_id)
    codes = list(stores)
    if not codes:
        raise Invalid("name the stores to copy the instruction to", {"stores": ["required"]})
    return create(session, source.text, stores=codes, scroll=source.scroll,
                  valid_from=source.valid_from, valid_until=source.valid_until)


def seen_by(session: Session, instruction_id: int) -> list[InstructionSeen]:
    get(session, instruction_id)
    return list(session.scalars(select(InstructionSeen)
                                .where(InstructionSeen.instruction_id == instruction_id)
                                .order_by(InstructionSeen.seen_at, InstructionSeen.id)))


def seen_view(seen: InstructionSeen) -> dict[str, Any]:
    return {"store": seen.store.code, "cashier": seen.cashier or None,
            "seen_at": _iso(seen.seen_at)}


class SeenHandler:
    """The ``seen`` upstream kind: recorded once per instruction, store and cashier; a
    ``seen`` of an instruction central does not hold is parked."""

    kind = "seen"
    after: frozenset[str] = frozenset()

    def read(self, entry: dict[str, Any], store: Store) -> dict[str, Any]:
        return upstream_kinds.read("seen", entry["body"])

    def record(self, session: Session, store: Store, epoch: str,
               items: list[Item]) -> Recorded:
        wanted = {_as_id(body["instruction"]) for _entry, body in items} - {None}
        known = set(session.scalars(select(Instruction.id).where(
            Instruction.id.in_(wanted)))) if wanted else set()
        rows, parked = [], []
        for _entry, body in items:
            instruction_id = _as_id(body["instruction"])
            if instruction_id not in known:
                parked.append(Parked(seq=None, reason=f"seen of instruction "
                                     f"{body['instruction']!r}, which central does not hold",
                                     payload=dumps(body).decode()))
                continue
            rows.append({"instruction_id": instruction_id, "store_id": store.id,
                         "cashier": body["cashier"] or "", "seen_at": body["seen_at"]})
        applied = 0
        if rows:
            done = session.execute(bulk.insert(session, InstructionSeen).values(rows)
                                   .on_conflict_do_nothing(
                                       index_elements=["instruction_id", "store_id",
                                                       "cashier"])
                                   .returning(InstructionSeen.id))
            applied = len(done.all())
        return Recorded(applied=applied, duplicates=len(rows) - applied, parked=parked)

    def held(self, session: Session, store: Store, epoch: str,
             seqs: list[int]) -> dict[int, str]:
        return {}  # recorded by instruction, store and cashier, not by seq


def _as_id(text: str) -> int | None:
    return int(text) if text.isdigit() and len(text) < 10 else None


# The message to the seller -------------------------------------------------------------

def seller_message(session: Session, store_code: str) -> str | None:
    store = get_store(session, store_code)
    row = session.get(SellerMessage, store.id)
    return row.text if row else None


def set_seller_message(session: Session, store_code: str, text: str | None,
                       now: dt.datetime) -> str | None:
    """Set (or, with an empty text, remove) the store's message to the seller."""
    store = get_store(session, store_code)
    text = (text or "").strip()
    if len(text) > MAX_SELLER_TEXT:
        raise Invalid(f"the message is longer than {MAX_SELLER_TEXT} characters",
                      {"text": [f"at most {MAX_SELLER_TEXT} characters"]})
    row = session.get(SellerMessage, store.id)
    scope = Scope("store", store.code)
    if not text:
        if row is not None:
            session.delete(row)
            changelog.record(session, BUCKET, scope, SELLER_ENTITY, store.code, "delete", None)
        return None
    if row is None:
        row = SellerMessage(store_id=store.id, text=text, updated_at=now)
        session.add(row)
    else:
        row.text, row.updated_at = text, now
    session.flush()
    changelog.record(session, BUCKET, scope, SELLER_ENTITY, store.code, "upsert",
                     {"store": store.code, "text": text})
    return text
