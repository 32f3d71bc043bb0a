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


class InvalidItem(Invalid):
    """One item refused: which one (from 1), which of its fields, and why (so a form can
    show the reason beside the field; the API answers with the message as before)."""

    def __init__(self, number: int, field: str, reason: str) -> None:
        super().__init__(f"item {number}: {reason}", {"items": [f"item {number}: {field}"]})
        self.number, self.field, self.reason = number, field, reason


def check_items(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    if len(items) > MAX_ITEMS:
        raise Invalid(f"at most {MAX_ITEMS} items", {"items": [f"at most {MAX_ITEMS}"]})
    found = []
    for number, item in enumerate(items, 1):
        kind, src, seconds = item.get("kind"), str(item.get("src") or ""), item.get("seconds")
        if kind not in KINDS:
            raise InvalidItem(number, "kind", "kind is image, video or url")
        if not src.startswith(("http://", "https://")) or len(src) > 2000:
            raise InvalidItem(number, "src", "src must be an http(s) URL")
        if seconds is not None and not (isinstance(seconds, int) and 1 <= seconds <= 3600):
            raise InvalidItem(number, "seconds", "seconds is 1 to 3600")
        found.append({"kind": kind, "src": src,
                      "seconds": None if kind == "video" else seconds or 10})
    return found


def _row(session: Session, scope: str, code: str) -> DisplayContent | None:
    return session.scalar(select(DisplayContent).where(DisplayContent.scope == scope,
                                                       DisplayContent.code == code))


def every_content(session: Session) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """Every scope's own items, by (scope, code): one query for a whole overview."""
    return {(row.scope, row.code): json.loads(row.items)
            for row in session.scalars(select(DisplayContent))}


def effective_in(contents: dict[tuple[str, str], list[dict[str, Any]]],
                 store: Store) -> tuple[str, str, list[dict[str, Any]]] | None:
    """What ``store``'s displays show, from ``every_content``: (scope, code, items) of the
    store's own content, else its group's; None: its local folder."""
    own = contents.get(("store", store.code))
    if own is not None:
        return "store", store.code, own
    if store.group is not None and ("group", store.group.code) in contents:
        return "group", store.group.code, contents[("group", store.group.code)]
    return None


def _publish(session: Session, stores: list[Store]) -> None:
    contents = every_content(session)
    for store in stores:
        found = effective_in(contents, store)
        scope = Scope("store", store.code)
        if found is None:
            changelog.record(session, BUCKET, scope, ENTITY, store.code, "delete", None)
        else:
            changelog.record(session, BUCKET, scope, ENTITY, store.code, "upsert",
                             {"store": store.code, "source": f"{found[0]} {found[1]}",
                              "items": found[2]})


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
