"""Display content (SPEC S6): head office sets the promotional side of the customer
displays for a store or a store group; a store's own content wins over its group's.

Each store's own stream carries its effective content as one ``display_content`` record
(key = the store), sent again whenever the store's or its group's content changes; a
store left with neither gets a delete (its display falls back to its local folder). Group
membership is read when content is saved: a store moved to another group gets that group's
content the next time it is saved.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from central.models import DisplayContent, Store
from central.services import changelog
from central.services.errors import Invalid, NotFound
from central.services.stores import BUCKET, get_group, get_store
from protocol.streams import Scope

ENTITY = "display_content"
KINDS = ("image", "video", "url")
MAX_ITEMS = 100


def check_items(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    if len(items) > MAX_ITEMS:
        raise Invalid(f"at most {MAX_ITEMS} items", {"items": [f"at most {MAX_ITEMS}"]})
    found = []
    for number, item in enumerate(items, 1):
        kind, src, seconds = item.get("kind"), str(item.get("src") or ""), item.get("seconds")
        if kind not in KINDS:
            raise Invalid(f"item {number}: kind is image, video or url",
                          {"items": [f"item {number}: kind"]})
        if not src.startswith(("http://", "https://")) or len(src) > 2000:
            raise Invalid(f"item {number}: src must be an http(s) URL",
                          {"items": [f"item {number}: src"]})
        if seconds is not None and not (isinstance(seconds, int) and 1 <= seconds <= 3600):
            raise Invalid(f"item {number}: seconds is 1 to 3600",
                          {"items": [f"item {number}: seconds"]})
        found.append({"kind": kind, "src": src,
                      "seconds": None if kind == "video" else seconds or 10})
    return found


def _row(session: Session, scope: str, code: str) -> DisplayContent | None:
    return session.scalar(select(DisplayContent).where(DisplayContent.scope == scope,
                                                       DisplayContent.code == code))


def _effective(session: Session, store: Store) -> tuple[str, list[dict[str, Any]]] | None:
    own = _row(session, "store", store.code)
    if own is not None:
        return f"store {store.code}", json.loads(own.items)
    if store.group is not None:
        shared = _row(session, "group", store.group.code)
        if shared is not None:
            return f"group {store.group.code}", json.loads(shared.items)
    return None


def _publish(session: Session, stores: list[Store]) -> None:
    for store in stores:
        found = _effective(session, store)
        scope = Scope("store", store.code)
        if found is None:
            changelog.record(session, BUCKET, scope, ENTITY, store.code, "delete", None)
        else:
            changelog.record(session, BUCKET, scope, ENTITY, store.code, "upsert",
                             {"store": store.code, "source": found[0], "items": found[1]})


def _concerned(session: Session, scope: str, code: str) -> list[Store]:
    if scope == "store":
        return [get_store(session, code)]
    if scope == "group":
        group = get_group(session, code)
        return list(session.scalars(select(Store).where(Store.group_id == group.id)
                                    .order_by(Store.code)))
    raise NotFound(f"no display scope {scope!r} (store or group)")


def get(session: Session, scope: str, code: str) -> list[dict[str, Any]]:
    _concerned(session, scope, code)
    row = _row(session, scope, code)
    if row is None:
        raise NotFound(f"no display content for {scope} {code!r}")
    items: list[dict[str, Any]] = json.loads(row.items)
    return items


def put(session: Session, scope: str, code: str, items: list[dict[str, Any]],
        now: dt.datetime) -> list[dict[str, Any]]:
    stores = _concerned(session, scope, code)
    checked = check_items(items)
    row = _row(session, scope, code)
    if row is None:
        session.add(DisplayContent(scope=scope, code=code, items=json.dumps(checked),
                                   updated_at=now))
    else:
        row.items, row.updated_at = json.dumps(checked), now
    session.flush()
    _publish(session, stores)
    return checked


def delete(session: Session, scope: str, code: str) -> None:
    stores = _concerned(session, scope, code)
    row = _row(session, scope, code)
    if row is None:
        raise NotFound(f"no display content for {scope} {code!r}")
    session.delete(row)
    session.flush()
    _publish(session, stores)
