"""Partner programmes and their cards (C6), and VIP cards.

A partner programme is an outside organisation's card scheme (seeds/004: a union card
giving 5% at the chain's kiosks and market, tobacco excluded by an exclusion policy). Its
cards are numbers or ranges of numbers imported at central; each programme, card entry and
VIP card travels on the ``partners`` stream, which every store follows.

Why one file of ~520 lines: programmes, card ranges and VIP cards share the ``partners``
stream, its validation helpers and the card-number rules. VIP cards (``*_vip``) are the part
to move out (e.g. ``vip_cards.py``) when the customer wave ties them to customer records.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from central.models import PartnerCard, PartnerProgramme, VipCard
from central.services import changelog
from central.services.catalog import page
from central.services.errors import Conflict, Invalid, NotFound
from central.services.policies import Problems, check_moment, check_percent, check_places, iso
from central.services.stores import get_store
from protocol.streams import ALL, PARTNERS
from rules.cards import VIP_MARK, CardError, check_vip_code
from rules.policies import applies_to_store, card_in_range

BUCKET = PARTNERS
CARD_NUMBER = re.compile(r"[A-Za-z0-9]{4,32}")
EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
PHONE = re.compile(r"\+?[0-9][0-9 ()./-]*")
CARD_COLUMNS = ("number", "first", "last", "holder")
CENT = Decimal("0.01")


def _text(problems: Problems, field: str, value: Any, *, limit: int = 200) -> str | None:
    if not isinstance(value, str) or not value.strip():
        problems.add(field, "required")
        return None
    if len(value.strip()) > limit:
        problems.add(field, f"at most {limit} characters")
        return None
    return value.strip()


def _rate(value: Decimal) -> str:
    return str(Decimal(value).quantize(CENT))


# -- programmes -------------------------------------------------------------------------------

def programme_wire(programme: PartnerProgramme) -> dict[str, Any]:
    return {"code": programme.code, "name": programme.name, "percent": _rate(programme.percent),
            "version": programme.version, "active": programme.active,
            "stores": json.loads(programme.stores), "groups": json.loads(programme.groups),
            "valid_from": iso(programme.valid_from), "valid_until": iso(programme.valid_until)}


def get_programme(session: Session, code: str, *, lock: bool = False) -> PartnerProgramme:
    """A programme by code; ``lock`` holds its row (its version, its cards) until commit."""
    query = select(PartnerProgramme).where(PartnerProgramme.code == code)
    programme = session.scalar(query.with_for_update() if lock else query)
    if programme is None:
        raise NotFound(f"no partner programme {code!r}")
    return programme


def list_programmes(session: Session, page_no: int, size: int, *, active: bool | None = None,
                    store: str | None = None) -> tuple[list[PartnerProgramme], int]:
    """Programmes by code; ``store`` keeps those accepted at that store."""
    query = select(PartnerProgramme).order_by(PartnerProgramme.code)
    if active is not None:
        query = query.where(PartnerProgramme.active.is_(active))
    if store is None:
        return page(session, query, page_no, size)
    outlet = get_store(session, store)
    group = outlet.group.code if outlet.group else None
    rows = [p for p in session.scalars(query)
            if applies_to_store(programme_wire(p), outlet.code, group)]
    start = (page_no - 1) * size
    return rows[start:start + size], len(rows)


def _check_programme(session: Session, programme: PartnerProgramme,
                     data: Mapping[str, Any]) -> None:
    """Check ``data`` (every field of a programme) and copy it onto ``programme``."""
    problems = Problems()
    name = _text(problems, "name", data.get("name"))
    percent = check_percent(problems, "percent", data.get("percent"),
                            "a 0% programme discounts nothing")
    stores, groups = check_places(session, problems, data.get("stores"), data.get("groups"))
    valid_from = check_moment(problems, "valid_from", data.get("valid_from"))
    valid_until = check_moment(problems, "valid_until", data.get("valid_until"))
    if valid_from is not None and valid_until is not None and valid_until <= valid_from:
        problems.add("valid_until", f"must come after valid_from ({iso(valid_from)})")
    problems.raise_if_any("partner programme")
    assert name is not None and percent is not None
    programme.name = name
    programme.percent = Decimal(percent)
    programme.stores = json.dumps(stores)
    programme.groups = json.dumps(groups)
    programme.valid_from = valid_from
    programme.valid_until = valid_until
    programme.active = bool(data.get("active", True))


def _log_programme(session: Session, programme: PartnerProgramme) -> None:
    session.flush()
    changelog.record(session, BUCKET, ALL, "partner_programme", programme.code, "upsert",
                     programme_wire(programme))


def create_programme(session: Session, data: Mapping[str, Any]) -> PartnerProgramme:
    """A new programme: {code, name, percent, stores, groups, valid_from, valid_until}."""
    code = data.get("code")
    if not isinstance(code, str) or not code:
        raise Invalid("invalid partner programme", {"code": ["required"]})
    if session.scalar(select(PartnerProgramme.id).where(PartnerProgramme.code == code)):
        raise Conflict(f"partner programme {code!r} already exists",
                       {"code": ["already exists"]})
    programme = PartnerProgramme(code=code, version=1)
    _check_programme(session, programme, data)
    session.add(programme)
    _log_programme(session, programme)
    return programme


def update_programme(session: Session, code: str,
                     changes: Mapping[str, Any]) -> PartnerProgramme:
    programme = get_programme(session, code, lock=True)
    if not changes:
        raise Invalid("nothing to change")
    _check_programme(session, programme, {**programme_wire(programme), **changes})
    programme.version += 1
    _log_programme(session, programme)
    return programme


def deactivate_programme(session: Session, code: str) -> PartnerProgramme:
    """Stop accepting a programme's cards everywhere. Already inactive: no change."""
    programme = get_programme(session, code, lock=True)
    if programme.active:
        programme.active = False
        programme.version += 1
        _log_programme(session, programme)
    return programme


# -- partner cards ----------------------------------------------------------------------------

def card_wire(card: PartnerCard) -> dict[str, Any]:
    return {"programme": card.programme.code, "first": card.first, "last": card.last,
            "holder": card.holder, "active": card.active}


def _card_key(programme: PartnerProgramme, first: str, last: str) -> str:
    return f"{programme.code}|{first}|{last}"


def _log_card(session: Session, card: PartnerCard) -> None:
    changelog.record(session, BUCKET, ALL, "partner_card",
                     _card_key(card.programme, card.first, card.last), "upsert", card_wire(card))


def _cell(row: Mapping[str, Any], name: str) -> str | None:
    value = row.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(f"{name} must be text")
    return value.strip() or None


def parse_card(row: Mapping[str, Any]) -> tuple[str, str, str | None]:
    """``{number}`` or ``{first, last}`` (+ holder) as (first, last, holder).

    A number is 4 to 32 letters or digits; a range is two digit strings of the same length
    (that is how stores compare them, rules.policies.card_in_range).
    """
    number, first, last = _cell(row, "number"), _cell(row, "first"), _cell(row, "last")
    holder = _cell(row, "holder")
    if holder is not None and len(holder) > 200:
        raise ValueError("holder: at most 200 characters")
    if number is not None:
        if first is not None or last is not None:
            raise ValueError("give a number, or first and last, not both")
        if not CARD_NUMBER.fullmatch(number):
            raise ValueError(f"number {number!r}: 4 to 32 letters or digits")
        return number, number, holder
    if first is None or last is None:
        raise ValueError("give a number, or first and last of a range")
    for name, value in (("first", first), ("last", last)):
        if not (value.isascii() and value.isdigit() and 4 <= len(value) <= 32):
            raise ValueError(f"{name} {value!r}: a range is 4 to 32 digits")
    if len(first) != len(last):
        raise ValueError(f"first {first!r} and last {last!r} must have the same length")
    if first > last:
        raise ValueError(f"first {first!r} comes after last {last!r}")
    return first, last, holder


def _covering(ranges: Iterable[tuple[str, str]], first: str, last: str) -> tuple[str, str] | None:
    """An existing range that already holds every number of [first, last]."""
    for low, high in ranges:
        if first == last and card_in_range(first, low, high):
            return low, high
        if len(first) == len(low) and low <= first and last <= high:
            return low, high
    return None


def _add(session: Session, programme: PartnerProgramme,
         rows: Sequence[tuple[int, tuple[str, str, str | None]]]) -> dict[str, Any]:
    known = {(first, last): (card_id, active) for card_id, first, last, active in session.execute(
        select(PartnerCard.id, PartnerCard.first, PartnerCard.last, PartnerCard.active)
        .where(PartnerCard.programme_id == programme.id))}
    ranges = [pair for pair, (_, active) in known.items() if active and pair[0] != pair[1]]
    added: list[PartnerCard] = []
    duplicates: list[dict[str, Any]] = []
    for line, (first, last, holder) in rows:
        shown = first if first == last else f"{first}-{last}"
        existing = known.get((first, last))
        if existing is not None and existing[1]:
            duplicates.append({"line": line, "reason": f"{shown} is already in the programme"})
            continue
        cover = _covering(ranges, first, last)
        if cover is not None:
            duplicates.append({"line": line,
                               "reason": f"{shown} is already covered by {cover[0]}-{cover[1]}"})
            continue
        if existing is None:
            card = PartnerCard(programme=programme, first=first, last=last, holder=holder,
                               active=True)
            session.add(card)
        else:  # removed earlier: the same entry comes back, so its history stays one key
            card = session.get_one(PartnerCard, existing[0])
            card.active = True
            card.holder = holder or card.holder
        known[(first, last)] = (card.id, True)
        if first != last:
            ranges.append((first, last))
        added.append(card)
    session.flush()
    for card in added:
        _log_card(session, card)
    return {"added": len(added), "skipped": len(duplicates), "rejected": [],
            "duplicates": duplicates}


def add_cards(session: Session, programme_code: str,
              rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Add card numbers or ranges; all rows are checked first and a bad one adds nothing.

    Entries already in the programme (or inside one of its ranges) are skipped and reported.
    """
    programme = get_programme(session, programme_code, lock=True)
    parsed: list[tuple[int, tuple[str, str, str | None]]] = []
    problems: list[str] = []
    for line, row in enumerate(rows, start=1):
        try:
            parsed.append((line, parse_card(row)))
        except ValueError as exc:
            problems.append(f"card {line}: {exc}")
    if not rows:
        problems.append("no card given")
    if problems:
        raise Invalid("invalid cards; none was added", {"cards": problems})
    return _add(session, programme, parsed)


def import_cards_csv(session: Session, programme_code: str, text: str) -> dict[str, Any]:
    """Import a CSV of cards: a header naming ``number`` or ``first,last`` (+ ``holder``).

    Every good row is added; a bad row is rejected with its line and reason and adds
    nothing; duplicates are skipped. Commas, semicolons or tabs separate the values.
    """
    programme = get_programme(session, programme_code, lock=True)
    lines = text.splitlines()
    header_index = next((i for i, line in enumerate(lines) if line.strip()), None)
    if header_index is None:
        raise Invalid("the file is empty", {"file": ["no header and no card"]})
    header_line = lines[header_index]
    delimiter = max(",;\t", key=header_line.count)
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    header: list[str] | None = None
    rows: list[tuple[int, tuple[str, str, str | None]]] = []
    rejected: list[dict[str, Any]] = []
    try:
        for cells in reader:
            if not any(cell.strip() for cell in cells):
                continue
            if header is None:
                header = [cell.lstrip("\ufeff").strip().lower() for cell in cells]
                if "number" not in header and not {"first", "last"} <= set(header):
                    raise Invalid("the first line must name the columns",
                                  {"file": ["header: number, or first and last; "
                                            "holder is optional"]})
                continue
            line = reader.line_num
            if len(cells) > len(header):
                rejected.append({"line": line, "reason": f"{len(cells)} values for "
                                                         f"{len(header)} columns"})
                continue
            row = {name: value for name, value in zip(header, cells, strict=False)
                   if name in CARD_COLUMNS}
            try:
                rows.append((line, parse_card(row)))
            except ValueError as exc:
                rejected.append({"line": line, "reason": str(exc)})
    except csv.Error as exc:
        raise Invalid("the file is not readable CSV",
                      {"file": [f"line {reader.line_num}: {exc}"]}) from exc
    report = _add(session, programme, rows)
    report["rejected"] = rejected
    return report


def get_card(session: Session, programme_code: str, first: str,
             last: str | None = None) -> PartnerCard:
    programme = get_programme(session, programme_code)
    last = last or first
    card = session.scalar(select(PartnerCard).where(PartnerCard.programme_id == programme.id,
                                                    PartnerCard.first == first,
                                                    PartnerCard.last == last))
    if card is None:
        shown = first if first == last else f"{first}-{last}"
        raise NotFound(f"no card {shown} in partner programme {programme_code!r}")
    return card


def remove_card(session: Session, programme_code: str, first: str,
                last: str | None = None) -> PartnerCard:
    """Stop accepting a card number or range; the entry is kept inactive for history."""
    card = get_card(session, programme_code, first, last)
    if card.active:
        card.active = False
        session.flush()
        _log_card(session, card)
    return card


def list_cards(session: Session, programme_code: str, page_no: int, size: int, *,
               active: bool | None = None,
               number: str | None = None) -> tuple[list[PartnerCard], int]:
    """Entries of a programme by number; ``number`` keeps the entries that hold it."""
    programme = get_programme(session, programme_code)
    query = (select(PartnerCard).where(PartnerCard.programme_id == programme.id)
             .order_by(PartnerCard.first, PartnerCard.last))
    if active is not None:
        query = query.where(PartnerCard.active.is_(active))
    if number is not None:
        exact = and_(PartnerCard.first == number, PartnerCard.last == number)
        if number.isascii() and number.isdigit():
            inside = and_(PartnerCard.first != PartnerCard.last,
                          func.length(PartnerCard.first) == len(number),
                          PartnerCard.first <= number, PartnerCard.last >= number)
            query = query.where(or_(exact, inside))
        else:
            query = query.where(exact)
    return page(session, query, page_no, size)


# -- VIP cards --------------------------------------------------------------------------------

def vip_wire(card: VipCard) -> dict[str, Any]:
    return {"code": card.code, "customer": card.customer, "percent": _rate(card.percent),
            "valid_until": iso(card.valid_until), "active": card.active,
            "version": card.version}


def get_vip(session: Session, code: str, *, lock: bool = False) -> VipCard:
    query = select(VipCard).where(VipCard.code == code)
    card = session.scalar(query.with_for_update() if lock else query)
    if card is None:
        raise NotFound(f"no VIP card {code!r}")
    return card


def list_vips(session: Session, page_no: int, size: int, *, active: bool | None = None,
              customer: str | None = None) -> tuple[list[VipCard], int]:
    query = select(VipCard).order_by(VipCard.code)
    if active is not None:
        query = query.where(VipCard.active.is_(active))
    if customer:
        query = query.where(func.lower(VipCard.customer).contains(customer.lower()))
    return page(session, query, page_no, size)


def _notify(problems: Problems, value: Any) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if not isinstance(value, str) or len(value.strip()) > 200:
        problems.add("notify", "an e-mail address or a phone number, at most 200 characters")
        return None
    contact: str = value.strip()
    digits = sum(ch.isdigit() for ch in contact)
    if EMAIL.fullmatch(contact) or (PHONE.fullmatch(contact) and 6 <= digits <= 15):
        return contact
    problems.add("notify", "an e-mail address or a phone number (6 to 15 digits)")
    return None


def _check_vip(card: VipCard, data: Mapping[str, Any], now: dt.datetime,
               until_changed: bool) -> None:
    problems = Problems()
    customer = _text(problems, "customer", data.get("customer"))
    percent = check_percent(problems, "percent", data.get("percent"),
                            "a 0% VIP card discounts nothing")
    valid_until = check_moment(problems, "valid_until", data.get("valid_until"))
    if valid_until is None and "valid_until" not in problems.errors:
        problems.add("valid_until", "required")
    elif valid_until is not None and until_changed and valid_until <= now:
        problems.add("valid_until", f"must be in the future (it is {iso(now)}); "
                                    "to stop a card, deactivate it")
    notify = _notify(problems, data.get("notify"))
    problems.raise_if_any("VIP card")
    assert customer is not None and percent is not None and valid_until is not None
    card.customer = customer
    card.percent = Decimal(percent)
    card.valid_until = valid_until
    card.notify = notify
    card.active = bool(data.get("active", True))


def _log_vip(session: Session, card: VipCard) -> None:
    session.flush()
    changelog.record(session, BUCKET, ALL, "vip_card", card.code, "upsert", vip_wire(card))


def create_vip(session: Session, data: Mapping[str, Any],
               now: dt.datetime | None = None) -> VipCard:
    """A new ``#VIP#`` card: {code, customer, percent, valid_until (future), notify}."""
    code = data.get("code")
    try:
        # The stores read VIP cards with the same check: a code central accepted and a till
        # could not read would be a card nobody can use.
        if not isinstance(code, str) or code != check_vip_code(code):
            raise CardError("not a VIP code")
    except CardError:
        raise Invalid("invalid VIP card",
                      {"code": [f"'{VIP_MARK}' followed by 1 to 32 letters or digits"]}) from None
    if session.scalar(select(VipCard.id).where(VipCard.code == code)) is not None:
        raise Conflict(f"VIP card {code!r} already exists", {"code": ["already exists"]})
    card = VipCard(code=code, version=1)
    _check_vip(card, data, now or dt.datetime.now(dt.UTC), until_changed=True)
    session.add(card)
    _log_vip(session, card)
    return card


def update_vip(session: Session, code: str, changes: Mapping[str, Any],
               now: dt.datetime | None = None) -> VipCard:
    card = get_vip(session, code, lock=True)
    if not changes:
        raise Invalid("nothing to change")
    current = {**vip_wire(card), "notify": card.notify}
    _check_vip(card, {**current, **changes}, now or dt.datetime.now(dt.UTC),
               until_changed="valid_until" in changes)
    card.version += 1
    _log_vip(session, card)
    return card


def deactivate_vip(session: Session, code: str) -> VipCard:
    """Stop a VIP card everywhere. Already inactive: no change."""
    card = get_vip(session, code, lock=True)
    if card.active:
        card.active = False
        card.version += 1
        _log_vip(session, card)
    return card
