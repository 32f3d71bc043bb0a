"""Stores and store groups. Each store's own configuration travels on its own stream."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlalchemy.orm import Session

from central.models import Store, StoreGroup
from central.services import changelog
from central.services.catalog import page
from central.services.errors import Conflict, Invalid, NotFound
from protocol.streams import STORE_CONFIG, Scope

BUCKET = STORE_CONFIG
DEFAULT_TIME_ZONE = "Europe/Rome"
"""A new store's zone unless told otherwise (central's settings may name another)."""


def check_time_zone(name: object) -> str:
    """``name`` if it is an IANA time zone this machine knows, else Invalid."""
    if isinstance(name, str) and name and len(name) <= 64 and name == name.strip():
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            pass
        else:
            return name
    raise Invalid("unknown time zone",
                  {"time_zone": [f"{name!r} is not an IANA time zone (e.g. Europe/Rome)"]})


def group_wire(group: StoreGroup) -> dict[str, Any]:
    return {"code": group.code, "name": group.name}


def store_wire(store: Store) -> dict[str, Any]:
    return {"code": store.code, "name": store.name, "active": store.active,
            "group": store.group.code if store.group else None,
            "time_zone": store.time_zone}


def get_group(session: Session, code: str) -> StoreGroup:
    group = session.scalar(select(StoreGroup).where(StoreGroup.code == code))
    if group is None:
        raise NotFound(f"no store group {code!r}")
    return group


def create_group(session: Session, code: str, name: str) -> StoreGroup:
    if session.scalar(select(StoreGroup.id).where(StoreGroup.code == code)) is not None:
        raise Conflict(f"store group {code!r} already exists", {"code": ["already exists"]})
    group = StoreGroup(code=code, name=name)
    session.add(group)
    session.flush()
    return group


def update_group(session: Session, code: str, changes: dict[str, Any]) -> StoreGroup:
    group = get_group(session, code)
    if "name" in changes:
        group.name = changes["name"]
    session.flush()
    return group


def list_groups(session: Session, page_no: int, size: int) -> tuple[list[StoreGroup], int]:
    return page(session, select(StoreGroup).order_by(StoreGroup.code), page_no, size)


def get_store(session: Session, code: str) -> Store:
    store = session.scalar(select(Store).where(Store.code == code))
    if store is None:
        raise NotFound(f"no store {code!r}")
    return store


def _group(session: Session, code: str | None) -> StoreGroup | None:
    if code is None:
        return None
    group = session.scalar(select(StoreGroup).where(StoreGroup.code == code))
    if group is None:
        raise Invalid("unknown store group", {"group": [f"no store group {code!r}"]})
    return group


def _log_store(session: Session, store: Store) -> None:
    changelog.record(session, BUCKET, Scope("store", store.code), "store", store.code,
                     "upsert", store_wire(store))


def create_store(session: Session, code: str, name: str, group: str | None = None,
                 time_zone: str = DEFAULT_TIME_ZONE) -> Store:
    if session.scalar(select(Store.id).where(Store.code == code)) is not None:
        raise Conflict(f"store {code!r} already exists", {"code": ["already exists"]})
    store = Store(code=code, name=name, group=_group(session, group), active=True,
                  time_zone=check_time_zone(time_zone))
    session.add(store)
    session.flush()
    _log_store(session, store)
    return store


def update_store(session: Session, code: str, changes: dict[str, Any]) -> Store:
    store = get_store(session, code)
    if "name" in changes:
        store.name = changes["name"]
    if "active" in changes:
        store.active = changes["active"]
    if "group" in changes:
        store.group = _group(session, changes["group"])
    if "time_zone" in changes:
        store.time_zone = check_time_zone(changes["time_zone"])
    session.flush()
    _log_store(session, store)
    return store


def list_stores(session: Session, page_no: int, size: int, group: str | None = None,
                active: bool | None = None) -> tuple[list[Store], int]:
    query = select(Store).order_by(Store.code)
    if group:
        query = query.where(Store.group_id == get_group(session, group).id)
    if active is not None:
        query = query.where(Store.active.is_(active))
    return page(session, query, page_no, size)
