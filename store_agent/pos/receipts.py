"""Receipts as the customer sees them (SPEC S3): the text receipt with the header, logo and
footer head office configured, and the e-mail receipt decided by the profile's policy.

The profile comes from central (``receipt_profile`` entities of the ``store-config``
streams): the chain's default, and this store's override whose unset fields inherit it.
An e-mail is queued in the sale's own transaction, so a sale never loses its e-mail and an
e-mail never exists without its sale; the mailer sends it later (``store_agent.pos.mailer``).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import sqlite3
from collections.abc import Mapping
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

# The text itself is in rules (pure): central's console previews the very same receipt.
from rules.receipt_text import WIDTH, local_time, render_text

__all__ = ["WIDTH", "local_time", "render_text"]

log = logging.getLogger(__name__)

EMAIL = re.compile(r"^[^@\s<>\"]+@[^@\s<>\"]+\.[^@\s<>\"]+$")
EMAIL_FIELDS = ("policy", "sender", "subject", "body", "document_types")


class InvalidEmail(ValueError):
    """The address the till sent cannot be an e-mail address."""


def effective_profile(conn: sqlite3.Connection, store_code: str) -> dict[str, Any]:
    """The store's override over the chain's default; empty values when neither exists."""
    rows = {str(r[0]): json.loads(r[1]) for r in conn.execute(
        "SELECT scope, data FROM receipt_profiles WHERE scope IN ('default', ?)",
        (store_code,))}
    default, override = rows.get("default", {}), rows.get(store_code, {})
    result: dict[str, Any] = {}
    for name in ("header", "footer", "logo_png"):
        value = override.get(name)
        result[name] = value if value is not None else default.get(name)
    email: dict[str, Any] = {}
    for name in EMAIL_FIELDS:
        value = (override.get("email") or {}).get(name)
        email[name] = value if value is not None else (default.get("email") or {}).get(name)
    email["policy"] = email["policy"] or "never"
    email["document_types"] = email["document_types"] or ["sale"]
    result["email"] = email
    result["header"] = result["header"] or []
    result["footer"] = result["footer"] or []
    return result


def store_zone(conn: sqlite3.Connection, store: str) -> dt.tzinfo:
    """The store's time zone from its record (its receipts' times, its customers' dates);
    UTC until central has sent one (older centrals send none) or if this machine does not
    know the zone."""
    row = conn.execute("SELECT time_zone FROM store_info WHERE code = ?", (store,)).fetchone()
    if row is None or not row[0]:
        return dt.UTC
    try:
        return ZoneInfo(str(row[0]))
    except (ZoneInfoNotFoundError, ValueError):
        log.warning("unknown time zone %r in the store's record: UTC instead", row[0])
        return dt.UTC


def email_decision(profile: Mapping[str, Any], address: str | None,
                   document_type: str = "sale") -> tuple[bool, str]:
    """Whether to send, and why not when not."""
    email = profile["email"]
    if email["policy"] == "never":
        return False, "e-mail receipts are off for this store"
    if document_type not in email["document_types"]:
        return False, f"no e-mail receipts for {document_type} documents"
    if not address:
        return False, "no e-mail address"
    if not (email.get("sender") and email.get("subject") and email.get("body")):
        return False, "the receipt profile has no sender, subject or body"
    return True, "queued"


def _fill(template: str, values: Mapping[str, str]) -> str:
    return template.format_map(dict(values))


def compose(sale: Mapping[str, Any], profile: Mapping[str, Any],
            store_name: str | None, zone: dt.tzinfo) -> tuple[str, str]:
    """Subject and body of the e-mail receipt."""
    text = "\n".join(render_text(sale, profile, store_name, zone))
    values = {"store": str(sale["store"]), "store_name": store_name or str(sale["store"]),
              "number": str(sale["number"]),
              "date": local_time(sale["created_at"], zone),
              "total": str(sale["total"]), "receipt": text}
    email = profile["email"]
    subject = " ".join(_fill(email["subject"], values).split())  # one header line
    return subject, _fill(email["body"], values)


def check_address(address: str | None) -> str | None:
    if address is None or address == "":
        return None
    address = address.strip()
    if len(address) > 254 or not EMAIL.match(address):
        raise InvalidEmail(f"{address!r} is not an e-mail address")
    return address


def queue_email(conn: sqlite3.Connection, sale: Mapping[str, Any], address: str | None,
                now: dt.datetime, profile: Mapping[str, Any]) -> dict[str, str]:
    """Inside the sale's transaction: queue its e-mail receipt if ``profile`` (the store's
    effective receipt profile) says so."""
    send, reason = email_decision(profile, address)
    if not send:
        return {"state": "not_sent", "reason": reason}
    assert address is not None
    row = conn.execute("SELECT name FROM store_info WHERE code = ?", (sale["store"],)).fetchone()
    subject, body = compose(sale, profile, row[0] if row else None,
                            store_zone(conn, sale["store"]))
    conn.execute("INSERT INTO email_outbox (sale_uuid, to_addr, sender, subject, body, "
                 "logo_png, state, next_attempt_at, created_at) "
                 "VALUES (?, ?, ?, ?, ?, ?, 'queued', ?, ?)",
                 (sale["uuid"], address, profile["email"]["sender"], subject, body,
                  profile.get("logo_png"), now.isoformat(), now.isoformat()))
    return {"state": "queued", "to": address}


def email_state(conn: sqlite3.Connection, sale_uuid: str) -> dict[str, Any] | None:
    row = conn.execute("SELECT to_addr, state, attempts, last_error, sent_at FROM "
                       "email_outbox WHERE sale_uuid = ?", (sale_uuid,)).fetchone()
    if row is None:
        return None
    return {"to": row["to_addr"], "state": row["state"], "attempts": row["attempts"],
            "error": row["last_error"], "sent_at": row["sent_at"]}
