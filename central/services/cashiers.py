"""Cashiers (SPEC S8): head office defines them (name, code, PIN, stores); each store's own
``store-config@s:{store}`` stream carries the cashiers who work there, PIN as an argon2 hash,
so the till signs a cashier in with the store offline.

A cashier removed from a store (or a store removed from a cashier) is a delete on that
store's stream; a deactivated cashier stays on it with ``active`` false (the till refuses
the sign-in and says why).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from argon2 import PasswordHasher
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from central.models import Cashier, Store
from central.services import changelog
from central.services.errors import Conflict, Invalid, NotFound
from central.services.stores import BUCKET
from protocol.streams import Scope

CODE = re.compile(r"[A-Za-z0-9._-]{1,32}")
PIN = re.compile(r"[0-9]{4,8}")
ENTITY = "cashier"

_hasher = PasswordHasher()


def check_pin(pin: object) -> str:
    if not isinstance(pin, str) or not PIN.fullmatch(pin):
        raise Invalid("the PIN must be 4 to 8 digits", {"pin": ["4 to 8 digits"]})
    return pin


def wire(cashier: Cashier) -> dict[str, Any]:
    """What a store's stream carries (protocol.entities.CashierData)."""
    return {"code": cashier.code, "name": cashier.name, "pin_hash": cashier.pin_hash,
            "active": cashier.active}


def view(cashier: Cashier) -> dict[str, Any]:
    """What the API shows (never the hash)."""
    return {"code": cashier.code, "name": cashier.name, "active": cashier.active,
            "stores": [s.code for s in cashier.stores],
            "created_at": cashier.created_at.isoformat() if cashier.created_at else None}


def _stores(session: Session, codes: Iterable[str]) -> list[Store]:
    wanted = sorted(set(codes))
    found = list(session.scalars(select(Store).where(Store.code.in_(wanted))
                                 .order_by(Store.code))) if wanted else []
    missing = sorted(set(wanted) - {s.code for s in found})
    if missing:
        raise Invalid(f"unknown store(s): {', '.join(missing)}",
                      {"stores": [f"unknown store {c!r}" for c in missing]})
    return found


def _publish(session: Session, cashier: Cashier, before: Iterable[str]) -> None:
    now_at = {s.code for s in cashier.stores}
    for code in sorted(set(before) - now_at):
        changelog.record(session, BUCKET, Scope("store", code), ENTITY, cashier.code,
                         "delete", None)
    data = wire(cashier)
    for code in sorted(now_at):
        changelog.record(session, BUCKET, Scope("store", code), ENTITY, cashier.code,
                         "upsert", data)


def find(session: Session, code: str) -> Cashier | None:
    return session.scalar(select(Cashier).where(Cashier.code == code))


def get(session: Session, code: str) -> Cashier:
    cashier = find(session, code)
    if cashier is None:
        raise NotFound(f"no cashier {code!r}")
    return cashier


def list_cashiers(session: Session, page: int, size: int,
                  store: str | None = None) -> tuple[list[Cashier], int]:
    query = select(Cashier)
    if store:
        query = query.where(Cashier.stores.any(Store.code == store))
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(query.order_by(Cashier.code).offset((page - 1) * size).limit(size))
    return list(rows), total


def create(session: Session, code: str, name: str, pin: str,
           stores: Iterable[str]) -> Cashier:
    if not CODE.fullmatch(code):
        raise Invalid("bad cashier code", {"code": ["1 to 32 letters, digits, '.', '_', '-'"]})
    if not name.strip():
        raise Invalid("the name is empty", {"name": ["required"]})
    if find(session, code) is not None:
        raise Conflict(f"cashier {code!r} exists already", {"code": ["taken"]})
    cashier = Cashier(code=code, name=name.strip(), pin_hash=_hasher.hash(check_pin(pin)),
                      active=True, stores=_stores(session, stores))
    session.add(cashier)
    session.flush()
    _publish(session, cashier, ())
    return cashier


def update(session: Session, code: str, changes: dict[str, Any]) -> Cashier:
    """Change name, PIN, active and/or stores; every store concerned hears of it."""
    cashier = get(session, code)
    before = [s.code for s in cashier.stores]
    if changes.get("name") is not None:
        if not str(changes["name"]).strip():
            raise Invalid("the name is empty", {"name": ["required"]})
        cashier.name = str(changes["name"]).strip()
    if changes.get("pin") is not None:
        cashier.pin_hash = _hasher.hash(check_pin(changes["pin"]))
    if changes.get("active") is not None:
        cashier.active = bool(changes["active"])
    if changes.get("stores") is not None:
        cashier.stores = _stores(session, changes["stores"])
    session.flush()
    _publish(session, cashier, before)
    return cashier


def codes_of_store(session: Session, store: Store) -> list[str]:
    return list(session.scalars(select(Cashier.code).where(
        Cashier.stores.any(Store.id == store.id)).order_by(Cashier.code)))
