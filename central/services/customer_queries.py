"""Customer conditions in SQL: alerts' preview counts and the multi-criteria list (K8, K9).

``to_sql`` translates a ``rules.conditions`` tree into one SQLAlchemy expression over
``customers`` with the semantics nodes.py fixes (a missing value makes every comparison
false, two-valued ``not``, text compared without case, ``between`` inclusive, relative
dates resolved once). The same tree is evaluated in Python at the till, so a list at
central and an alert at a store mean the same thing; a test compares both on one data set.

A purchase is a date in the store's zone (the till compares ``moment.astimezone(zone)
.date()``), but the column holds the instant. Rather than converting every row's instant to
the zone (``timezone(zone, moment)::date``: evaluated row by row, no index can serve it), a
date bound becomes the instant its day begins in the zone, and the comparison a half-open
range on the raw column: ``= d`` is ``start(d) <= moment < start(d + 1)``, ``< d`` is
``moment < start(d)``, ``<= d`` is ``moment < start(d + 1)`` and so on; one comparison per
bound, served by an index. A day is 23 or 25 hours on the DST days and that is all the
instants carry. This is exact as long as the local date never goes backwards, which it
does only where the clock was turned back across midnight (local midnight then happens
twice: Newfoundland and Moncton until 2010, at 00:01); for a bound on such a day the
predicate keeps the conversion, so the answer is the same everywhere.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator, Mapping
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    Date,
    Integer,
    Numeric,
    String,
    and_,
    cast,
    exists,
    false,
    func,
    not_,
    or_,
    select,
    true,
    type_coerce,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from central.models import Customer, CustomerAlert, CustomerCard, Money
from central.services import changelog
from central.services.customer_fields import BUCKET, policy
from central.services.errors import Invalid, NotFound
from protocol.streams import ALL
from rules.conditions import (
    Catalogue,
    ConditionError,
    CriteriaFilter,
    Criterion,
    FieldType,
    Node,
    compile_condition,
    resolve_date,
    to_node,
)
from rules.conditions.nodes import (
    And,
    Between,
    Boolean,
    Compare,
    DateValue,
    Flag,
    InList,
    IsEmpty,
    Not,
    Number,
    Or,
    RelativeDate,
    Text,
    TextMatch,
    Value,
)
from rules.customers.alerts import customer_catalogue

_COLUMNS: dict[str, Any] = {
    "first_name": Customer.first_name, "last_name": Customer.last_name,
    "email": Customer.email, "mobile": Customer.mobile, "postcode": Customer.postcode,
    "city": Customer.city, "country": Customer.country, "gender": Customer.gender,
    "home_store": Customer.home_store, "birth_date": Customer.birth_date,
    "consent_email": Customer.consent_email, "consent_sms": Customer.consent_sms,
    "total_spend": Customer.total_spend, "visits": Customer.visits,
}


_PURCHASES: dict[str, Any] = {"first_purchase": Customer.first_purchase,
                              "last_purchase": Customer.last_purchase}
_FIRST_INSTANT = dt.datetime.min.replace(tzinfo=dt.UTC)


def catalogue(session: Session) -> Catalogue:
    return customer_catalogue(policy(session, mandatory=False))


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class Translator:
    """One ``match`` over the node classes, with a column per field."""

    def __init__(self, fields: Catalogue, today: dt.date, zone: str,
                 dialect: str = "postgresql") -> None:
        self.fields, self.today, self.zone, self.dialect = fields, today, zone, dialect
        self.tz = ZoneInfo(zone)

    def column(self, name: str) -> Any:
        if name in _COLUMNS:
            return _COLUMNS[name]
        if name in ("has_phone", "has_email", "has_card"):
            return self._flag(name)
        if self.dialect == "sqlite":
            return self._sqlite_column(name)
        if self.dialect != "postgresql":
            raise Invalid(f"conditions on {name} need central on PostgreSQL or SQLite",
                          {"condition": [f"{name}: needs central on PostgreSQL or SQLite"]})
        data = cast(Customer.data, JSONB)
        kind = self.fields.fields[name].type if name in self.fields.fields else FieldType.TEXT
        if name == "age":
            return func.date_part("year", func.age(self.today, Customer.birth_date))
        if name == "birth_year":
            return func.date_part("year", Customer.birth_date)
        if name == "average_basket":
            return func.round(Customer.total_spend / func.nullif(Customer.visits, 0), 2)
        if name in _PURCHASES:  # the instant: comparisons go through _instants
            return _PURCHASES[name]
        value = (data["extra"][name[len("extra."):]].astext if name.startswith("extra.")
                 else data[name].astext)
        if kind is FieldType.NUMBER or kind is FieldType.MONEY:
            return cast(value, Numeric)
        if kind is FieldType.DATE:
            return cast(value, Date)
        return value

    def _sqlite_column(self, name: str) -> Any:
        """The same field on the embedded database (``make demo``, a trial): dates are ISO
        text there, so years and ages come from ``strftime`` and a date compares as text;
        the record's other keys are read with ``json_extract``."""
        kind = self.fields.fields[name].type if name in self.fields.fields else FieldType.TEXT
        if name in ("age", "birth_year"):
            born = func.strftime("%Y", Customer.birth_date)
            if name == "birth_year":
                return cast(born, Integer)
            today = self.today.isoformat()
            # whole years: one less while this year's birthday is still to come
            return (cast(func.strftime("%Y", today), Integer) - cast(born, Integer)
                    - cast(func.strftime("%m-%d", today)
                           < func.strftime("%m-%d", Customer.birth_date), Integer))
        if name == "average_basket":
            # money is whole cents here (``Money``): spend / visits to the cent, half away
            # from zero as ``round_money``, in integers
            cents = type_coerce(Customer.total_spend, Integer)
            visits = func.nullif(Customer.visits, 0)
            return type_coerce(func.sign(cents) * ((2 * func.abs(cents) + visits)
                                                   / (2 * visits)), Money)
        if name in _PURCHASES:
            return _PURCHASES[name]
        path = (f'$.extra."{name[len("extra."):]}"' if name.startswith("extra.")
                else f'$."{name}"')
        value = func.json_extract(Customer.data, path)
        if kind is FieldType.NUMBER or kind is FieldType.MONEY:
            return cast(value, Numeric)
        if kind is FieldType.DATE:
            return type_coerce(value, Date)  # ISO text, compared with ISO text
        return type_coerce(value, String)

    def _flag(self, name: str) -> Any:
        if name == "has_phone":
            return Customer.mobile.is_not(None)
        if name == "has_email":
            return Customer.email.is_not(None)
        # ``active`` (never NULL) as it stands, which the partial index of revision 0027
        # proves (``active IS TRUE`` is not matched to ``WHERE active``): index-only probes
        return exists().where(CustomerCard.customer_id == Customer.id, CustomerCard.active)

    def literal(self, value: Value) -> Any:
        if isinstance(value, (DateValue, RelativeDate)):
            return resolve_date(value, self.today)
        if isinstance(value, Text):
            return value.value.lower()
        if isinstance(value, (Number, Boolean)):
            return value.value
        raise AssertionError(value)

    def _side(self, name: str, value: Value) -> Any:
        column = self.column(name)
        return func.lower(column) if isinstance(value, Text) else column

    def __call__(self, node: Node) -> ColumnElement[bool]:
        if isinstance(node, Not):
            return not_(self(node.item))
        if isinstance(node, And):
            return and_(*(self(item) for item in node.items))
        if isinstance(node, Or):
            return or_(*(self(item) for item in node.items))
        if node.field == "cards":
            return self._cards(node)
        column = self.column(node.field)
        if node.field in _PURCHASES and isinstance(node, (Compare, Between, InList)):
            return and_(column.is_not(None), self._instants(node, column))
        if isinstance(node, IsEmpty):
            if node.field in ("has_card", "has_phone", "has_email"):
                return false()
            kind = self.fields.fields[node.field].type
            if kind is FieldType.TEXT:
                return or_(column.is_(None), func.trim(column) == "")
            missing: ColumnElement[bool] = column.is_(None)
            return missing
        if isinstance(node, Flag):
            if node.field in ("has_card", "has_phone", "has_email"):
                flag: ColumnElement[bool] = column
                return flag
            return func.coalesce(column, False).is_(True)
        if isinstance(node, TextMatch):
            needle = _escape(node.value.value.lower())
            pattern = {"starts with": f"{needle}%", "ends with": f"%{needle}",
                       "contains": f"%{needle}%"}[node.op]
            return and_(column.is_not(None), func.lower(column).like(pattern, escape="\\"))
        if isinstance(node, Compare):
            side, wanted = self._side(node.field, node.value), self.literal(node.value)
            compared = {"=": side == wanted, "!=": side != wanted, "<": side < wanted,
                        "<=": side <= wanted, ">": side > wanted, ">=": side >= wanted}[node.op]
            return and_(column.is_not(None), compared)
        if isinstance(node, Between):
            side = self._side(node.field, node.low)
            return and_(column.is_not(None),
                        side.between(self.literal(node.low), self.literal(node.high)))
        if isinstance(node, InList):
            side = self._side(node.field, node.values[0])
            return and_(column.is_not(None), side.in_([self.literal(v) for v in node.values]))
        raise AssertionError(node)

    # -- purchases: date bounds as instants ----------------------------------------------

    def start(self, day: dt.date, later: int = 0) -> dt.datetime | None:
        """The UTC instant the day ``later`` days after ``day`` begins in the zone: the
        first instant Python holds when that is earlier, ``None`` past the last one."""
        try:
            wall = dt.datetime.combine(day + dt.timedelta(days=later), dt.time.min, self.tz)
        except OverflowError:  # after 9999-12-31
            return None
        try:
            # fold=0: a midnight that does not exist (a DST gap at 00:00) is the gap's end
            return wall.astimezone(dt.UTC)
        except OverflowError:
            return _FIRST_INSTANT if wall.year == 1 else None

    def turned_back(self, day: dt.date, later: int = 0) -> bool:
        """Whether the clock was turned back across the midnight that starts the day
        ``later`` days after ``day`` (that midnight happens twice): the instants whose date
        is on either side of it are then not two plain ranges."""
        try:
            wall = dt.datetime.combine(day + dt.timedelta(days=later), dt.time.min, self.tz)
            round_trip = wall.astimezone(dt.UTC).astimezone(self.tz).replace(tzinfo=None)
        except OverflowError:
            return False
        # in a gap both folds differ too, but the wall time does not come back
        return (wall.utcoffset() != wall.replace(fold=1).utcoffset()
                and round_trip == wall.replace(tzinfo=None))

    def _instants(self, node: Compare | Between | InList, moment: Any) -> ColumnElement[bool]:
        """A purchase compared with dates in the zone, as ranges of the instant ``moment``."""
        if isinstance(node, Compare):
            return self._day_compare(moment, node.op, self._date(node.value))
        if isinstance(node, Between):
            return and_(self._day_compare(moment, ">=", self._date(node.low)),
                        self._day_compare(moment, "<=", self._date(node.high)))
        return or_(*(self._day_compare(moment, "=", self._date(v)) for v in node.values))

    def _date(self, value: Value) -> dt.date:
        day = self.literal(value)
        if not isinstance(day, dt.date):  # the catalogue lets only dates through
            raise AssertionError(value)
        return day

    def _day_compare(self, moment: Any, op: str, day: dt.date) -> ColumnElement[bool]:
        """``moment``'s date in the zone ``op`` ``day``, on the instant itself."""
        if self.turned_back(day) or self.turned_back(day, 1):
            if self.dialect != "postgresql":  # no time zones in SQLite
                raise Invalid(f"a purchase date of {day} in {self.zone} needs central on "
                              "PostgreSQL", {"condition": [
                                  f"{day}: the clock went back across midnight in {self.zone}; "
                                  "needs central on PostgreSQL"]})
            local = cast(func.timezone(self.zone, moment), Date)
            return {"=": local == day, "!=": local != day, "<": local < day,
                    "<=": local <= day, ">": local > day, ">=": local >= day}[op]
        if op == "=":
            return and_(self._since(moment, day, 0), not_(self._since(moment, day, 1)))
        if op == "!=":
            return or_(not_(self._since(moment, day, 0)), self._since(moment, day, 1))
        since = self._since(moment, day, 1 if op in ("<=", ">") else 0)
        return since if op in (">", ">=") else not_(since)

    def _since(self, moment: Any, day: dt.date, later: int) -> ColumnElement[bool]:
        """``moment`` at or after the start of the day ``later`` days after ``day``."""
        start = self.start(day, later)
        if start is None:
            return false()
        if start == _FIRST_INSTANT:
            return true()
        since: ColumnElement[bool] = moment >= start
        return since

    def _cards(self, node: Node) -> ColumnElement[bool]:
        active = and_(CustomerCard.customer_id == Customer.id, CustomerCard.active)
        if isinstance(node, IsEmpty):
            return not_(exists().where(active))
        if isinstance(node, TextMatch) and node.op == "contains":
            return exists().where(active, CustomerCard.number == node.value.value)
        if isinstance(node, InList):
            return exists().where(active, CustomerCard.number.in_(
                [v.value for v in node.values if isinstance(v, Text)]))
        return false() if not isinstance(node, Flag) else true()


def where(session: Session, node: Node | None, *, today: dt.date | None = None,
          zone: str = "Europe/Rome") -> ColumnElement[bool]:
    """The live customers ``node`` selects (all of them for ``None``)."""
    live = Customer.erased_at.is_(None)
    if node is None:
        return live
    translate = Translator(catalogue(session),
                           today or dt.datetime.now(ZoneInfo(zone)).date(), zone,
                           session.get_bind().dialect.name)
    return and_(live, translate(node))


# -- the multi-criteria list -------------------------------------------------------------------

def read_criteria(session: Session, body: Mapping[str, Any]) -> Node | None:
    """The list's rows (JSON) as a condition; Invalid naming the row's field if bad."""
    rows = body.get("criteria", [])
    match = body.get("match", "all")
    if not isinstance(rows, list) or match not in ("all", "any"):
        raise Invalid("invalid list", {"criteria": ["a list of {field, operator, value} rows"],
                                       "match": ["all or any"]})
    criteria = []
    for i, row in enumerate(rows):
        if not isinstance(row, dict):
            raise Invalid("invalid list", {f"criteria[{i}]": ["a {field, operator, value} row"]})
        value = row.get("value", "")
        if isinstance(value, list):
            value = tuple(str(v) for v in value)
        elif not isinstance(value, str):
            value = str(value)
        criteria.append(Criterion(str(row.get("field", "")), str(row.get("operator", "")),
                                  value))
    try:
        return to_node(CriteriaFilter(tuple(criteria), match), catalogue(session))
    except ConditionError as exc:
        key = f"criteria.{exc.field}" if exc.field else "criteria"
        raise Invalid("invalid list", {key: [str(exc)]}) from exc


def count(session: Session, node: Node | None, **kw: Any) -> int:
    return int(session.scalar(select(func.count()).select_from(Customer)
                              .where(where(session, node, **kw))) or 0)


def page(session: Session, node: Node | None, page_no: int, size: int,
         **kw: Any) -> tuple[list[Customer], int]:
    rows = session.scalars(select(Customer).where(where(session, node, **kw))
                           .order_by(Customer.search_key, Customer.id)
                           .offset((page_no - 1) * size).limit(size))
    return list(rows), count(session, node, **kw)


EXPORT_COLUMNS = ("id", "first_name", "last_name", "email", "mobile", "postcode", "city",
                  "country", "birth_date", "home_store", "total_spend", "visits",
                  "last_purchase")


def export_rows(session: Session, node: Node | None, **kw: Any) -> Iterator[list[Any]]:
    """The list's rows for a CSV or Excel file, streamed from the database."""
    query = (select(Customer.data).where(where(session, node, **kw))
             .order_by(Customer.search_key, Customer.id).execution_options(yield_per=1000))
    for (data,) in session.execute(query):
        record = json.loads(data)
        yield [Decimal(record[c]) if c == "total_spend" else record.get(c)
               for c in EXPORT_COLUMNS]


# -- alerts -----------------------------------------------------------------------------------

def alert_wire(row: CustomerAlert) -> dict[str, Any]:
    return {"code": row.code, "position": row.position, "condition": row.condition,
            "message": row.message, "active": row.active}


def check_condition(session: Session, text: Any, field: str = "condition") -> Node:
    if not isinstance(text, str) or not text.strip():
        raise Invalid("invalid condition", {field: ["required"]})
    try:
        return compile_condition(text, catalogue(session)).node
    except ConditionError as exc:
        raise Invalid("invalid condition", {field: [str(exc)]}) from exc


def save_alert(session: Session, data: Mapping[str, Any]) -> CustomerAlert:
    """Create or change an alert; its condition is parsed and checked when saved."""
    problems: dict[str, list[str]] = {}
    code, message, position = data.get("code"), data.get("message"), data.get("position", 0)
    if not isinstance(code, str) or not code.strip() or len(code) > 40:
        problems["code"] = ["required, at most 40 characters"]
    if not isinstance(message, str) or not message.strip() or len(message) > 500:
        problems["message"] = ["required, at most 500 characters"]
    if not isinstance(position, int) or isinstance(position, bool):
        problems["position"] = ["a whole number"]
    try:
        check_condition(session, data.get("condition"))
    except Invalid as exc:
        problems.update(exc.errors)
    if problems:
        raise Invalid("invalid alert", problems)
    assert isinstance(code, str) and isinstance(message, str) and isinstance(position, int)
    row = session.get(CustomerAlert, code.strip()) or CustomerAlert(code=code.strip())
    row.position, row.condition = position, str(data["condition"]).strip()
    row.message, row.active = message.strip(), bool(data.get("active", True))
    session.add(row)
    session.flush()
    changelog.record(session, BUCKET, ALL, "customer_alert", row.code, "upsert", alert_wire(row))
    return row


def list_alerts(session: Session) -> list[CustomerAlert]:
    return list(session.scalars(select(CustomerAlert).order_by(CustomerAlert.position,
                                                               CustomerAlert.code)))


def delete_alert(session: Session, code: str) -> None:
    row = session.get(CustomerAlert, code)
    if row is None:
        raise NotFound(f"no customer alert {code!r}")
    session.delete(row)
    changelog.record(session, BUCKET, ALL, "customer_alert", code, "delete", None)


def preview(session: Session, text: Any, **kw: Any) -> int:
    """How many live customers a condition matches now."""
    return count(session, check_condition(session, text), **kw)
