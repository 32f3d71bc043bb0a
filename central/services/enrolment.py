"""Enrolment of a new outlet: a one-time code exchanged for the store's identity.

Head office asks for a code for a store; the technician types it on the shop PC
(`tessera agent enroll`), which receives the store identity and its own broker
credentials. Codes are short-lived, single use, shown once and kept only as a hash.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from central.models import EnrolmentCode
from central.services import broker_access, changelog
from central.services.errors import Conflict, Invalid, ServiceError
from central.services.fleet import streams_for
from central.services.stores import get_store, store_wire

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford: no I, L, O, U
DEFAULT_TTL = dt.timedelta(hours=24)


class EnrolmentRefused(Invalid):
    """A code that is unknown, used or expired (one message for all: no oracle)."""

    status = 403


class NotConfigured(ServiceError):
    """Central cannot enrol stores until an operator completes its settings."""

    status = 503


def _hash(code: str) -> str:
    normalised = code.strip().upper().replace("-", "").replace(" ", "")
    return hashlib.sha256(normalised.encode()).hexdigest()


def _new_code() -> str:
    raw = "".join(secrets.choice(ALPHABET) for _ in range(16))  # 80 bits
    return "-".join(raw[i:i + 4] for i in range(0, 16, 4))


@dataclass(frozen=True)
class IssuedCode:
    store: str
    code: str
    expires_at: dt.datetime


def issue_code(session: Session, store_code: str, now: dt.datetime,
               ttl: dt.timedelta = DEFAULT_TTL) -> IssuedCode:
    """A new one-time code for ``store_code``; earlier unused codes stop working."""
    store = get_store(session, store_code)
    if not store.active:
        raise Conflict(f"store {store_code!r} is deactivated", {"store": ["deactivated"]})
    if not dt.timedelta(minutes=5) <= ttl <= dt.timedelta(days=7):
        raise Invalid("a code lives between 5 minutes and 7 days", {"ttl_hours": ["range"]})
    session.execute(update(EnrolmentCode)
                    .where(EnrolmentCode.store_id == store.id, EnrolmentCode.used_at.is_(None),
                           EnrolmentCode.expires_at > now)
                    .values(expires_at=now))
    code = _new_code()
    session.add(EnrolmentCode(store_id=store.id, code_hash=_hash(code), created_at=now,
                              expires_at=now + ttl))
    session.flush()
    return IssuedCode(store=store.code, code=code, expires_at=now + ttl)


def redeem(session: Session, code: str, now: dt.datetime, broker_url: str,
           central_url: str | None = None) -> dict[str, Any]:
    """Exchange a code for the store's identity and fresh broker credentials."""
    row = session.scalar(select(EnrolmentCode).where(EnrolmentCode.code_hash == _hash(code))
                         .with_for_update())
    if row is None or row.used_at is not None or row.expires_at <= now:
        raise EnrolmentRefused("this enrolment code is unknown, already used or expired: "
                               "ask head office for a new one")
    row.used_at = now
    store = row.store
    password = broker_access.issue(session, store.code)
    heads = changelog.heads(session)
    follows = {stream: heads[stream] for stream in streams_for(store, heads)}
    return {"store": store_wire(store), "broker": {"url": broker_url, "username": store.code,
                                                   "password": password},
            "central_url": central_url, "streams": follows}

