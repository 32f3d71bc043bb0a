"""The customer registry's policy at central (K2, K3): extra questions and mandatory fields.

Head office sets them; they go to every store in the ``customers`` stream
(``customer_field`` and ``customer_policy`` entities)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from central.models import (
    CustomerField,
    CustomerSetting,
)
from central.services import changelog
from central.services.errors import Invalid
from protocol.streams import ALL, CUSTOMERS
from rules.customers.record import (
    CustomerInvalid,
    ExtraQuestion,
    RegistryPolicy,
)

BUCKET = CUSTOMERS
MANDATORY = "mandatory"


# -- policy: extra questions and mandatory fields ---------------------------------------------

def policy(session: Session, *, mandatory: bool = True) -> RegistryPolicy:
    questions = tuple(
        ExtraQuestion(f.code, f.label, f.kind, tuple(json.loads(f.choices)))  # type: ignore[arg-type]
        for f in session.scalars(select(CustomerField).where(CustomerField.active.is_(True))
                                 .order_by(CustomerField.position, CustomerField.code)))
    required: frozenset[str] = frozenset()
    if mandatory:
        row = session.get(CustomerSetting, MANDATORY)
        required = frozenset(json.loads(row.value)) if row is not None else frozenset()
    return RegistryPolicy(questions, required & set(RegistryPolicy(questions).specs()))


def field_wire(row: CustomerField) -> dict[str, Any]:
    return {"code": row.code, "label": row.label, "kind": row.kind,
            "choices": json.loads(row.choices), "position": row.position, "active": row.active}


def save_field(session: Session, data: Mapping[str, Any]) -> CustomerField:
    """Create or change an extra question; bad input is Invalid naming the field."""
    code, label, kind = data.get("code"), data.get("label"), data.get("kind")
    choices = data.get("choices") or []
    problems: dict[str, list[str]] = {}
    if not isinstance(label, str) or not label.strip():
        problems["label"] = ["required"]
    if kind not in ("text", "number", "date", "choice"):
        problems["kind"] = ["one of text, number, date, choice"]
    if not isinstance(choices, list) or not all(isinstance(c, str) for c in choices):
        problems["choices"] = ["a list of texts"]
    if not problems:
        try:
            RegistryPolicy((ExtraQuestion(str(code), str(label), kind,  # type: ignore[arg-type]
                                          tuple(choices)),))
        except CustomerInvalid as exc:
            problems["code"] = list(exc.problems.values())
    if problems:
        raise Invalid("invalid extra question", problems)
    row = session.get(CustomerField, code) or CustomerField(code=code)
    row.label, row.kind, row.choices = str(label).strip(), str(kind), json.dumps(choices)
    row.position = int(data.get("position") or 0)
    row.active = bool(data.get("active", True))
    session.add(row)
    session.flush()
    changelog.record(session, BUCKET, ALL, "customer_field", row.code, "upsert", field_wire(row))
    return row


def list_fields(session: Session) -> list[CustomerField]:
    return list(session.scalars(select(CustomerField).order_by(CustomerField.position,
                                                               CustomerField.code)))


def set_mandatory(session: Session, fields: Iterable[str]) -> list[str]:
    names = sorted(set(fields))
    try:
        RegistryPolicy(policy(session, mandatory=False).questions, frozenset(names))
    except CustomerInvalid as exc:
        raise Invalid("invalid mandatory fields",
                      {k: [v] for k, v in exc.problems.items()}) from exc
    row = session.get(CustomerSetting, MANDATORY) or CustomerSetting(key=MANDATORY)
    row.value = json.dumps(names)
    session.add(row)
    changelog.record(session, BUCKET, ALL, "customer_policy", "default", "upsert",
                     {"scope": "default", "mandatory": names})
    return names
