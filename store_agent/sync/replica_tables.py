"""Where each synced entity lives in the agent's SQLite database: its table and row mapping.

One :class:`Table` per entity of :mod:`protocol.entities` (the tables themselves are created
by :mod:`store_agent.migrations`). The replica upserts, deletes and wipes through these, so a
new entity is one registry entry, one migration creating its table and one mapping here.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from protocol.encoding import dumps
from protocol.streams import Scope
from rules.pricing import unit_of
from store_agent.sync import customer_tables, row_hash

log = logging.getLogger(__name__)

Row = Mapping[str, Any]


def _json(data: Row) -> str:
    return dumps(dict(data)).decode()


@dataclass(frozen=True)
class Table:
    """A table holding one entity, keyed by ``key_columns`` (the entity's key fields).

    ``columns`` maps each column to its value from the loaded data and the raw wire data
    (raw for JSON blobs: fields this agent does not know yet are kept for later readers).
    ``wipe`` forgets what one stream put there before a snapshot replaces it; by default the
    whole table (entities of scope "all").
    """

    entity: str
    name: str
    key_columns: tuple[str, ...]
    columns: Mapping[str, Callable[[Row, Row], Any]]
    after_upsert: Callable[[sqlite3.Connection, Row], None] | None = None
    after_delete: Callable[[sqlite3.Connection, dict[str, str | None]], None] | None = None
    wipe_where: Callable[[Scope], tuple[str, tuple[Any, ...]] | None] | None = None
    stream_column: str | None = None
    also: tuple[str, ...] = field(default=())
    """Other tables this mapping fills (a product's barcodes): wiped with it."""
    names_group: bool = False
    """The row is the store's own record: its ``group`` says which group streams to follow."""
    hash_column: str | None = None
    """The column holding central's entry hash of the row (store_agent.sync.row_hash), for
    entities a store holds by the million; None: the hash is kept in ``entry_hashes``."""

    @cached_property
    def _upsert_sql(self) -> str:
        # Made once per table: a snapshot upserts every product through here.
        names = [*self.columns, *([self.stream_column] if self.stream_column else [])]
        return (f"INSERT OR REPLACE INTO {self.name} ({', '.join(names)}) "  # noqa: S608
                f"VALUES ({', '.join('?' * len(names))})")

    def upsert(self, conn: sqlite3.Connection, stream: str, data: Row, raw: Row) -> None:
        values = [value(data, raw) for value in self.columns.values()]
        if self.stream_column:
            values.append(stream)
        conn.execute(self._upsert_sql, values)
        if self.after_upsert is not None:
            self.after_upsert(conn, data)

    def delete(self, conn: sqlite3.Connection, stream: str,
               parts: dict[str, str | None]) -> None:
        where = dict(zip(self.key_columns, (p or "" for p in parts.values()), strict=True))
        if self.stream_column:
            where[self.stream_column] = stream
        clause = " AND ".join(f"{c} = ?" for c in where)
        conn.execute(f"DELETE FROM {self.name} WHERE {clause}",  # noqa: S608
                     tuple(where.values()))
        if self.after_delete is not None:
            self.after_delete(conn, parts)

    def _where(self, parts: dict[str, str | None]) -> tuple[str, tuple[Any, ...]]:
        values = tuple(p or "" for p in parts.values())
        return " AND ".join(f"{c} = ?" for c in self.key_columns), values

    def stored_hash(self, conn: sqlite3.Connection, parts: dict[str, str | None]) -> int | None:
        """Central's entry hash held in the row of ``parts`` (None: no row, or not central's)."""
        clause, values = self._where(parts)
        row = conn.execute(f"SELECT {self.hash_column} FROM {self.name} "  # noqa: S608
                           f"WHERE {clause}", values).fetchone()
        return None if row is None or row[0] is None else row_hash.from_row(int(row[0]))

    def keep_hash(self, conn: sqlite3.Connection, parts: dict[str, str | None],
                  value: int) -> None:
        clause, values = self._where(parts)
        conn.execute(f"UPDATE {self.name} SET {self.hash_column} = ? "  # noqa: S608
                     f"WHERE {clause}", (row_hash.to_row(value), *values))

    def wipe(self, conn: sqlite3.Connection, stream: str, scope: Scope) -> None:
        if self.stream_column:
            conn.execute(f"DELETE FROM {self.name} WHERE {self.stream_column} = ?",  # noqa: S608
                         (stream,))
            return
        if self.wipe_where is None:
            conn.execute(f"DELETE FROM {self.name}")  # noqa: S608
            for table in self.also:
                conn.execute(f"DELETE FROM {table}")  # noqa: S608
            return
        where = self.wipe_where(scope)
        if where is not None:
            clause, params = where
            conn.execute(f"DELETE FROM {self.name} WHERE {clause}", params)  # noqa: S608

    @property
    def tables(self) -> tuple[str, ...]:
        return (self.name, *self.also)


class Tables:
    """Tables by entity name."""

    def __init__(self, *tables: Table) -> None:
        self._by_entity = {t.entity: t for t in tables}

    def get(self, entity: str) -> Table | None:
        return self._by_entity.get(entity)

    def __iter__(self) -> Iterator[Table]:
        return iter(self._by_entity.values())

    def with_(self, *tables: Table) -> Tables:
        return Tables(*self, *tables)

    def names(self) -> tuple[str, ...]:
        return tuple(name for table in self for name in table.tables)


def field_(name: str) -> Callable[[Row, Row], Any]:
    return lambda data, _raw: data.get(name)


def flag(name: str) -> Callable[[Row, Row], Any]:
    return lambda data, _raw: int(data[name])


def text(name: str) -> Callable[[Row, Row], Any]:
    """A Decimal kept as its exact text."""
    return lambda data, _raw: str(data[name])


def blob(data: Row, raw: Row) -> str:
    return _json(raw)


def _product_barcodes(conn: sqlite3.Connection, data: Row) -> None:
    conn.execute("DELETE FROM barcodes WHERE sku = ?", (data["sku"],))
    for code in data["barcodes"]:
        conn.execute("INSERT OR REPLACE INTO barcodes (code, sku) VALUES (?, ?)",
                     (code, data["sku"]))


def _forget_barcodes(conn: sqlite3.Connection, parts: dict[str, str | None]) -> None:
    conn.execute("DELETE FROM barcodes WHERE sku = ?", (parts["sku"],))


def _own_store(scope: Scope) -> tuple[str, tuple[Any, ...]] | None:
    return ("code = ?", (scope.ref,)) if scope.kind == "store" else None


def _profile_scope(scope: Scope) -> tuple[str, tuple[Any, ...]] | None:
    return ("scope = ?", (scope.ref if scope.kind == "store" else "default",))


def _store_only(scope: Scope) -> tuple[str, tuple[Any, ...]] | None:
    """Entities sent on the store's own stream only: its snapshot replaces all of them."""
    return ("1 = 1", ()) if scope.kind == "store" else None


def _coded(entity: str, name: str) -> Table:
    return Table(entity, name, ("code",), {"code": field_("code"), "name": field_("name"),
                                           "active": flag("active")})


class _Customers(Table):
    """``customers`` (store_agent.sync.customer_tables): an update keeps the row number the name
    index refers to, and this store's pending edits stay laid over central's record."""

    def upsert(self, conn: sqlite3.Connection, stream: str, data: Row, raw: Row) -> None:
        customer_tables.upsert_customer(conn, raw, str(data["id"]))

    def delete(self, conn: sqlite3.Connection, stream: str,
               parts: dict[str, str | None]) -> None:
        customer_tables.delete_customer(conn, parts["id"])

    def wipe(self, conn: sqlite3.Connection, stream: str, scope: Scope) -> None:
        customer_tables.wipe_customers(conn)


class _CustomerCards(Table):
    def wipe(self, conn: sqlite3.Connection, stream: str, scope: Scope) -> None:
        customer_tables.wipe_cards(conn)


def _uuid(name: str) -> Callable[[Row, Row], Any]:
    return lambda data, _raw: str(data[name])


CUSTOMER_MAPPINGS = (
    _Customers("customer", "customers", ("id",), {}, also=("customer_names",),
               hash_column="entry_hash"),
    _CustomerCards("customer_card", "customer_cards", ("number",),
                   {"number": field_("number"), "customer": _uuid("customer"),
                    "kind": field_("kind"), "active": flag("active")},
                   hash_column="entry_hash"),
    Table("customer_field", "customer_fields", ("code",),
          {"code": field_("code"), "position": field_("position"), "active": flag("active"),
           "data": blob}),
    Table("customer_policy", "customer_policies", ("scope",),
          {"scope": field_("scope"), "data": blob}),
    Table("customer_alert", "customer_alerts", ("code",),
          {"code": field_("code"), "position": field_("position"), "active": flag("active"),
           "data": blob}),
    Table("customer_redirect", "customer_redirects", ("old",),
          {"old": _uuid("old"), "survivor": _uuid("survivor")}),
    Table("points_balance", "points_balances", ("customer",),
          {"customer": _uuid("customer"), "points": text("points"),
           "updated_at": field_("updated_at")}, hash_column="entry_hash"),
)


TABLES = Tables(
    Table("category", "categories", ("code",),
          {"code": field_("code"), "name": field_("name"), "parent": field_("parent"),
           "active": flag("active")}),
    _coded("brand", "brands"),
    _coded("family", "families"),
    Table("product", "products", ("sku",),
          {"sku": field_("sku"), "name": field_("name"), "category": field_("category"),
           "brand": field_("brand"), "family": field_("family"),
           "vat_rate": text("vat_rate"), "sale_price": text("sale_price"),
           "active": flag("active"), "unit": lambda data, _raw: unit_of(data["unit"]),
           "points_generated": lambda data, _raw: None if data.get("points_generated") is None
           else str(data["points_generated"])},
          after_upsert=_product_barcodes, after_delete=_forget_barcodes, also=("barcodes",)),
    Table("store", "store_info", ("code",),
          {"code": field_("code"), "name": field_("name"), "grp": field_("group"),
           "active": flag("active"), "time_zone": field_("time_zone")},
          wipe_where=_own_store, names_group=True),
    Table("receipt_profile", "receipt_profiles", ("scope",),
          {"scope": field_("scope"), "data": blob}, wipe_where=_profile_scope),
    Table("cashier", "cashiers", ("code",),
          {"code": field_("code"), "name": field_("name"), "pin_hash": field_("pin_hash"),
           "active": flag("active")}, wipe_where=_store_only),
    Table("instruction", "instructions", ("id",),
          {"id": field_("id"), "text": field_("text"), "scroll": flag("scroll"),
           "valid_from": field_("valid_from"), "valid_until": field_("valid_until"),
           "cashier": field_("cashier")}, wipe_where=_store_only),
    Table("seller_message", "seller_messages", ("store",),
          {"store": field_("store"), "text": field_("text")}, wipe_where=_store_only),
    Table("display_content", "display_content", ("store",),
          {"store": field_("store"), "data": blob}, wipe_where=_store_only),
    Table("survey", "surveys", ("store",),
          {"store": field_("store"), "code": field_("code"), "data": blob},
          wipe_where=_store_only),
    Table("price", "prices", ("sku", "effective_from"),
          {"sku": field_("sku"), "effective_from": lambda d, _r: d["effective_from"] or "",
           "price": text("price")}, stream_column="stream"),
    Table("policy", "policies", ("code",),
          {"code": field_("code"), "kind": field_("kind"), "version": field_("version"),
           "data": blob}),
    Table("partner_programme", "partner_programmes", ("code",),
          {"code": field_("code"), "version": field_("version"), "data": blob}),
    Table("partner_card", "partner_cards", ("programme", "first", "last"),
          {"programme": field_("programme"), "first": field_("first"),
           "last": field_("last"), "active": flag("active")}),
    Table("vip_card", "vip_cards", ("code",), {"code": field_("code"), "data": blob}),
    Table("loyalty_profile", "loyalty_profiles", ("code",),
          {"code": field_("code"), "version": field_("version"), "data": blob}),
    Table("loyalty_level", "loyalty_levels", ("code",),
          {"code": field_("code"), "name": field_("name"), "points": text("points")}),
    Table("loyalty_gift", "loyalty_gifts", ("sku",),
          {"sku": field_("sku"), "level": field_("level"),
           "points": lambda d, _r: None if d["points"] is None else str(d["points"])}),
    Table("points_value", "points_values", ("profile", "sku"),
          {"profile": field_("profile"), "sku": field_("sku"), "points": text("points")}),
    *CUSTOMER_MAPPINGS,
)
"""The agent table of every entity in protocol.entities.ENTITIES."""

STAGING_TABLES = ("customers_staging", "customer_names_staging", "customer_cards_staging",
                  "points_balances_staging")
"""A customers snapshot being collected (store_agent.sync.customer_snapshot)."""

BOOKKEEPING_TABLES = ("snapshot_parts", "entry_hashes", "streams", *STAGING_TABLES)
"""Replica tables that are not an entity's: emptied with the rest on a new log epoch."""

REPLICA_TABLES = (*TABLES.names(), *BOOKKEEPING_TABLES)
"""Every table holding central's data (for the registry's own entities)."""
