"""Store requests at central: a handler per request kind, and each request id answered once.

``answer`` runs in one transaction: it claims the (store, request id) row first (a
concurrent repeat waits on its unique index), runs the kind's handler and stores the reply
in the same transaction as whatever the handler changed. A repeat of the id finds that
reply and gets it again: the handler never runs twice for one id, whichever ingest worker
the repeat reaches. A handler failure rolls everything back, the claim included, so the
store may ask again.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from importlib import metadata
from typing import Any, Protocol

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from central.models import Store, StoreRequest
from protocol import PROTOCOL_VERSION
from protocol import requests as request_kinds
from protocol.encoding import WireError, dumps

KEEP_REPLIES = dt.timedelta(days=7)  # a repeat comes seconds later; a week is generous


class Refused(Exception):
    """A handler's no, with a code of ``protocol.requests.ERROR_CODES``."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class RequestHandler(Protocol):
    @property
    def kind(self) -> str: ...

    def answer(self, session: Session, store: Store, body: dict[str, Any],
               now: dt.datetime) -> dict[str, Any]:
        """The reply body (``protocol.requests`` reply schema of the kind), or Refused."""
        ...


class Registry:
    def __init__(self, handlers: Iterable[RequestHandler] = ()) -> None:
        self._handlers: dict[str, RequestHandler] = {}
        for handler in handlers:
            if handler.kind in self._handlers:
                raise ValueError(f"request kind {handler.kind!r} has a handler already")
            self._handlers[handler.kind] = handler

    def get(self, kind: str) -> RequestHandler | None:
        return self._handlers.get(kind)

    def kinds(self) -> list[str]:
        return list(self._handlers)


def _refusal(code: str, message: str) -> dict[str, Any]:
    return {"ok": False, "body": None, "error": {"code": code, "message": message}}


def answer(session: Session, request: dict[str, Any], handlers: Registry,
           now: dt.datetime) -> dict[str, Any]:
    """The reply (``ok``, ``body``, ``error``) to a validated request, stored for repeats."""
    store = session.scalar(select(Store).where(Store.code == request["store"]))
    if store is None:
        return _refusal("unknown_store", f"central knows no store {request['store']!r}")
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    claimed = session.execute(
        insert(StoreRequest).values(store_id=store.id, request_id=request["id"],
                                    kind=request["request"], received_at=now)
        .on_conflict_do_nothing(index_elements=["store_id", "request_id"])
        .returning(StoreRequest.id)).scalar()
    row = session.scalar(select(StoreRequest).where(StoreRequest.store_id == store.id,
                                                    StoreRequest.request_id == request["id"]))
    assert row is not None
    if claimed is None:
        if row.kind != request["request"]:
            return _refusal("id_reused", f"request id {request['id']!r} was used for a "
                            f"{row.kind} request")
        if row.reply is not None:
            stored: dict[str, Any] = json.loads(row.reply)
            return stored
    reply = _run(session, store, request, handlers, now)
    row.reply = dumps(reply).decode()
    session.flush()
    return reply


def _run(session: Session, store: Store, request: dict[str, Any], handlers: Registry,
         now: dt.datetime) -> dict[str, Any]:
    kind = request["request"]
    handler = handlers.get(kind)
    if handler is None:
        return _refusal("unknown_request", f"central has no handler for request kind "
                        f"{kind!r} (sent by a newer store agent?)")
    try:
        body = request_kinds.read_request(kind, request["body"])
    except WireError as exc:
        return _refusal("bad_request", str(exc))
    try:
        result = handler.answer(session, store, body, now)
    except Refused as exc:
        return _refusal(exc.code, exc.message)
    return {"ok": True, "body": request_kinds.dump_reply(kind, result), "error": None}


def prune(session: Session, now: dt.datetime) -> int:
    """Forget replies older than KEEP_REPLIES; returns how many."""
    done = session.execute(delete(StoreRequest)
                           .where(StoreRequest.received_at < now - KEEP_REPLIES))
    return int(getattr(done, "rowcount", 0) or 0)


def central_version() -> str:
    try:
        return metadata.version("tessera-retail")
    except metadata.PackageNotFoundError:
        return "unknown"


class ClockHandler:
    """``clock``: central's time and versions (the store's doctor compares clocks)."""

    kind = "clock"

    def answer(self, session: Session, store: Store, body: dict[str, Any],
               now: dt.datetime) -> dict[str, Any]:
        return {"time": now, "version": central_version(), "protocol": PROTOCOL_VERSION}
