"""Receipt profiles (SPEC S3): header, logo and footer of the printed receipt, and e-mail
receipts (policy never / propose / always, sender, subject, body template, document types).

The chain's default profile travels on the ``store-config`` stream (every store); a store's
override travels on its own ``store-config@s:{store}`` stream. In an override, a field left
unset (None) inherits the default's, so head office changes the footer of the whole chain
once while one shop keeps its own header.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import re
import string
from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from central.models import ReceiptProfile
from central.services import changelog
from central.services.errors import Invalid, NotFound
from central.services.stores import BUCKET, get_store
from protocol.streams import Scope

DEFAULT = "default"
POLICIES = ("never", "propose", "always")
DOCUMENT_TYPES = ("sale", "refund")
PLACEHOLDERS = frozenset({"store", "store_name", "number", "date", "total", "receipt"})
LINE_WIDTH = 48
MAX_LINES = 10
MAX_LOGO_BYTES = 64 * 1024
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
EMAIL = re.compile(r"^[^@\s<>\"]+@[^@\s<>\"]+\.[^@\s<>\"]+$")
FIELDS = ("header", "footer", "logo_png", "email_policy", "email_sender", "email_subject",
          "email_body", "email_document_types")


def _lines(name: str, value: Iterable[str] | None, errors: dict[str, list[str]]) -> str | None:
    if value is None:
        return None
    lines = list(value)
    if len(lines) > MAX_LINES:
        errors.setdefault(name, []).append(f"at most {MAX_LINES} lines")
    for number, line in enumerate(lines, start=1):
        if "\n" in line or "\r" in line or len(line) > LINE_WIDTH:
            errors.setdefault(name, []).append(
                f"line {number}: one line of at most {LINE_WIDTH} characters")
    return "\n".join(lines)


def _logo(value: str | None, errors: dict[str, list[str]]) -> bytes | None:
    if value is None:
        return None
    try:
        data = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        errors.setdefault("logo_png", []).append("not base64")
        return None
    if not data.startswith(PNG_MAGIC):
        errors.setdefault("logo_png", []).append("not a PNG image")
    if len(data) > MAX_LOGO_BYTES:
        errors.setdefault("logo_png", []).append(f"larger than {MAX_LOGO_BYTES} bytes")
    return data


def template_errors(template: str) -> list[str]:
    """Placeholders that the agent cannot fill, or a malformed template."""
    try:
        names = [name for _, name, spec, conv in string.Formatter().parse(template)
                 if name is not None]
    except ValueError as exc:
        return [f"malformed template: {exc}"]
    unknown = sorted({n for n in names if n not in PLACEHOLDERS})
    if unknown or any(n == "" for n in names):
        return [f"unknown placeholder {{{n}}}" for n in unknown or [""]] + [
            f"use only {', '.join('{' + p + '}' for p in sorted(PLACEHOLDERS))}"]
    return []


def _validate_email(values: dict[str, Any], errors: dict[str, list[str]]) -> None:
    policy = values.get("email_policy")
    if policy is not None and policy not in POLICIES:
        errors.setdefault("email.policy", []).append(f"one of {', '.join(POLICIES)}")
    sender = values.get("email_sender")
    if sender is not None and not EMAIL.match(sender):
        errors.setdefault("email.sender", []).append("not an e-mail address")
    for name in ("email_subject", "email_body"):
        template = values.get(name)
        if template is not None:
            for problem in template_errors(template):
                errors.setdefault(f"email.{name.removeprefix('email_')}", []).append(problem)
    types = values.get("email_document_types")
    if types is not None:
        unknown = [t for t in types.split() if t not in DOCUMENT_TYPES]
        if unknown:
            errors.setdefault("email.document_types", []).append(
                f"unknown {', '.join(unknown)}; known: {', '.join(DOCUMENT_TYPES)}")


def _effective(default: ReceiptProfile | None,
               override: ReceiptProfile | None) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for name in FIELDS:
        value = getattr(override, name) if override is not None else None
        result[name] = value if value is not None else (
            getattr(default, name) if default is not None else None)
    return result


def _find(session: Session, scope: str) -> ReceiptProfile | None:
    return session.scalar(select(ReceiptProfile).where(ReceiptProfile.scope == scope)
                          .with_for_update())


def wire(profile: ReceiptProfile) -> dict[str, Any]:
    def lines(text: str | None) -> list[str] | None:
        return None if text is None else (text.split("\n") if text else [])

    return {"scope": profile.scope, "version": profile.version,
            "header": lines(profile.header), "footer": lines(profile.footer),
            "logo_png": None if profile.logo_png is None
            else base64.b64encode(profile.logo_png).decode(),
            "email": {"policy": profile.email_policy, "sender": profile.email_sender,
                      "subject": profile.email_subject, "body": profile.email_body,
                      "document_types": None if profile.email_document_types is None
                      else profile.email_document_types.split()},
            "updated_at": profile.updated_at.isoformat() if profile.updated_at else None}


def put(session: Session, scope: str, data: dict[str, Any], now: dt.datetime) -> ReceiptProfile:
    """Create or replace the profile of ``scope`` (``default`` or a store code).

    Fields missing from ``data`` are unset: in an override they inherit the default.
    """
    store = None if scope == DEFAULT else get_store(session, scope)
    errors: dict[str, list[str]] = {}
    email = data.get("email") or {}
    types = email.get("document_types")
    values: dict[str, Any] = {
        "header": _lines("header", data.get("header"), errors),
        "footer": _lines("footer", data.get("footer"), errors),
        "logo_png": _logo(data.get("logo_png"), errors),
        "email_policy": email.get("policy"),
        "email_sender": email.get("sender"),
        "email_subject": email.get("subject"),
        "email_body": email.get("body"),
        "email_document_types": None if types is None else " ".join(dict.fromkeys(types)),
    }
    _validate_email(values, errors)
    if errors:
        raise Invalid("the receipt profile is not valid", errors)
    profile = _find(session, scope)
    default = profile if scope == DEFAULT else _find(session, DEFAULT)
    candidate = ReceiptProfile(**values)
    effective = _effective(None if scope == DEFAULT else default, candidate)
    _require_complete(effective)
    if profile is None:
        profile = ReceiptProfile(scope=scope, store_id=store.id if store else None, version=0)
        session.add(profile)
    for name, value in values.items():
        setattr(profile, name, value)
    profile.version += 1
    profile.updated_at = now
    session.flush()
    _log(session, profile)
    if scope == DEFAULT:
        _check_overrides_still_complete(session, profile)
    return profile


def _require_complete(effective: dict[str, Any]) -> None:
    policy = effective.get("email_policy") or "never"
    if policy == "never":
        return
    missing = [f"email.{n.removeprefix('email_')}" for n in
               ("email_sender", "email_subject", "email_body") if not effective.get(n)]
    if missing:
        raise Invalid(f"e-mail receipts ({policy}) need a sender, a subject and a body",
                      {name: ["required (here or in the default profile)"]
                       for name in missing})


def _check_overrides_still_complete(session: Session, default: ReceiptProfile) -> None:
    for override in session.scalars(select(ReceiptProfile)
                                    .where(ReceiptProfile.scope != DEFAULT)):
        try:
            _require_complete(_effective(default, override))
        except Invalid as exc:
            raise Invalid(f"store {override.scope}: {exc.message}", exc.errors) from exc


def delete(session: Session, scope: str) -> None:
    """Remove a store's override (the store follows the default again)."""
    if scope == DEFAULT:
        raise Invalid("the default profile cannot be deleted; set its fields instead",
                      {"scope": ["default"]})
    get_store(session, scope)
    profile = _find(session, scope)
    if profile is None:
        raise NotFound(f"store {scope!r} has no receipt profile of its own")
    session.delete(profile)
    changelog.record(session, BUCKET, Scope("store", scope), "receipt_profile", scope,
                     "delete", None)


def get(session: Session, scope: str) -> ReceiptProfile:
    if scope != DEFAULT:
        get_store(session, scope)
    profile = session.scalar(select(ReceiptProfile).where(ReceiptProfile.scope == scope))
    if profile is None:
        raise NotFound(f"no receipt profile for {scope!r}")
    return profile


def list_profiles(session: Session) -> list[ReceiptProfile]:
    return list(session.scalars(select(ReceiptProfile).order_by(
        ReceiptProfile.scope != DEFAULT, ReceiptProfile.scope)))


def _log(session: Session, profile: ReceiptProfile) -> None:
    scope = Scope("all") if profile.scope == DEFAULT else Scope("store", profile.scope)
    changelog.record(session, BUCKET, scope, "receipt_profile", profile.scope, "upsert",
                     wire(profile))
