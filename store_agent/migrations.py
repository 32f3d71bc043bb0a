"""Numbered, forward-only migrations of the agent's SQLite schema, run when the store opens.

Each migration runs in its own transaction together with the record of its number in
``meta`` (key ``migration``), so an unattended store that loses power mid-upgrade starts
again from the last migration that committed. Migration 1 is the schema as it stood before
migrations existed, written so that it also recognises (and completes) a database of any
earlier agent: tables and indexes ``IF NOT EXISTS``, columns added only where missing.
Never edit a migration that has shipped; add the next one.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from protocol.streams import STORE_CONFIG, Scope, stream_name

log = logging.getLogger(__name__)

META_KEY = "migration"

Step = str | Callable[[sqlite3.Connection], None]


@dataclass(frozen=True)
class Migration:
    number: int
    name: str
    steps: tuple[Step, ...]


def _add_column(table: str, column: str, decl: str) -> Callable[[sqlite3.Connection], None]:
    def step(conn: sqlite3.Connection) -> None:
        columns = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
        if column not in columns:
            conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {decl}")
    return step


BASELINE = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS streams (stream TEXT PRIMARY KEY, version INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS categories (
    code TEXT PRIMARY KEY, name TEXT NOT NULL, parent TEXT, active INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS brands (
    code TEXT PRIMARY KEY, name TEXT NOT NULL, active INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS products (
    sku TEXT PRIMARY KEY, name TEXT NOT NULL, category TEXT, brand TEXT,
    vat_rate TEXT NOT NULL, sale_price TEXT NOT NULL, active INTEGER NOT NULL, family TEXT);
CREATE TABLE IF NOT EXISTS barcodes (code TEXT PRIMARY KEY, sku TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS barcodes_sku ON barcodes (sku);
CREATE TABLE IF NOT EXISTS store_info (
    code TEXT PRIMARY KEY, name TEXT NOT NULL, grp TEXT, active INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS sales (
    uuid TEXT PRIMARY KEY, number INTEGER NOT NULL UNIQUE, request_hash TEXT NOT NULL,
    result TEXT NOT NULL, created_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS families (
    code TEXT PRIMARY KEY, name TEXT NOT NULL, active INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS prices (
    stream TEXT NOT NULL, sku TEXT NOT NULL, effective_from TEXT NOT NULL, price TEXT NOT NULL,
    PRIMARY KEY (stream, sku, effective_from));
CREATE INDEX IF NOT EXISTS prices_sku ON prices (sku);
CREATE TABLE IF NOT EXISTS policies (
    code TEXT PRIMARY KEY, kind TEXT NOT NULL, version INTEGER NOT NULL, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS partner_programmes (
    code TEXT PRIMARY KEY, version INTEGER NOT NULL, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS partner_cards (
    programme TEXT NOT NULL, first TEXT NOT NULL, last TEXT NOT NULL, active INTEGER NOT NULL,
    PRIMARY KEY (programme, first, last));
CREATE INDEX IF NOT EXISTS partner_cards_first ON partner_cards (first);
CREATE TABLE IF NOT EXISTS vip_cards (code TEXT PRIMARY KEY, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS receipt_profiles (scope TEXT PRIMARY KEY, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS email_outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT, sale_uuid TEXT NOT NULL UNIQUE, to_addr TEXT NOT NULL,
    sender TEXT NOT NULL, subject TEXT NOT NULL, body TEXT NOT NULL, logo_png TEXT,
    state TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, last_error TEXT,
    next_attempt_at TEXT NOT NULL, created_at TEXT NOT NULL, sent_at TEXT);
CREATE TABLE IF NOT EXISTS entry_hashes (
    stream TEXT NOT NULL, entity TEXT NOT NULL, key TEXT NOT NULL, hash TEXT NOT NULL,
    PRIMARY KEY (stream, entity, key));
CREATE TABLE IF NOT EXISTS snapshot_parts (
    stream TEXT NOT NULL, snapshot TEXT NOT NULL, part INTEGER NOT NULL, parts INTEGER NOT NULL,
    version INTEGER NOT NULL, body TEXT NOT NULL, PRIMARY KEY (stream, snapshot, part));
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, ref TEXT NOT NULL,
    body TEXT NOT NULL, created_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS fiscal_jobs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, sale_uuid TEXT NOT NULL UNIQUE,
    receipt TEXT NOT NULL, state TEXT NOT NULL, doc_before INTEGER,
    document_number INTEGER, receipt_number INTEGER, steps TEXT NOT NULL DEFAULT '[]',
    error TEXT, attempts INTEGER NOT NULL DEFAULT 0, z_number INTEGER,
    created_at TEXT NOT NULL, done_at TEXT);
CREATE INDEX IF NOT EXISTS fiscal_jobs_open ON fiscal_jobs (state) WHERE state != 'done';
CREATE TABLE IF NOT EXISTS fiscal_z_reports (
    number INTEGER PRIMARY KEY, device TEXT NOT NULL, expected TEXT NOT NULL,
    mismatches TEXT NOT NULL, jobs INTEGER NOT NULL, created_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS plu_numbers (sku TEXT PRIMARY KEY, number INTEGER NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS plu_dirty (
    id INTEGER PRIMARY KEY AUTOINCREMENT, sku TEXT NOT NULL, due_at TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS plu_dirty_due ON plu_dirty (due_at);
CREATE TABLE IF NOT EXISTS plu_refused (
    sku TEXT PRIMARY KEY, reason TEXT NOT NULL, at TEXT NOT NULL);
"""

PLU_SYNC_FLAG = "plu_sync"
"""Set in meta once the agent programs articles into a fiscal device (store_agent.fiscal.plu)."""


def _keep_plu_tracking(conn: sqlite3.Connection) -> None:
    """Agents before migrations created the PLU triggers when PLU sync started: a database
    that has them keeps tracking."""
    if conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'trigger' AND "
                    "name = 'plu_product_upsert'").fetchone() is not None:
        conn.execute("INSERT OR IGNORE INTO meta (key, value) VALUES (?, 'on')",
                     (PLU_SYNC_FLAG,))


_PLU_ON = f"WHEN EXISTS (SELECT 1 FROM meta WHERE key = '{PLU_SYNC_FLAG}')"

PLU_TRIGGERS = f"""
DROP TRIGGER IF EXISTS plu_product_upsert;
DROP TRIGGER IF EXISTS plu_price_upsert;
DROP TRIGGER IF EXISTS plu_price_delete;
CREATE TRIGGER plu_product_upsert AFTER INSERT ON products {_PLU_ON} BEGIN
    INSERT INTO plu_dirty (sku, due_at) VALUES (NEW.sku, '');
END;
CREATE TRIGGER plu_price_upsert AFTER INSERT ON prices {_PLU_ON} BEGIN
    INSERT INTO plu_dirty (sku, due_at) VALUES (NEW.sku, '');
    INSERT INTO plu_dirty (sku, due_at)
        SELECT NEW.sku, NEW.effective_from WHERE NEW.effective_from != '';
END;
CREATE TRIGGER plu_price_delete AFTER DELETE ON prices {_PLU_ON} BEGIN
    INSERT INTO plu_dirty (sku, due_at) VALUES (OLD.sku, '');
END;
"""

LOYALTY = """
CREATE TABLE loyalty_profiles (
    code TEXT PRIMARY KEY, version INTEGER NOT NULL, data TEXT NOT NULL);
CREATE TABLE loyalty_levels (
    code TEXT PRIMARY KEY, name TEXT NOT NULL, points TEXT NOT NULL);
CREATE TABLE loyalty_gifts (
    sku TEXT PRIMARY KEY, level TEXT NOT NULL, points TEXT);
CREATE TABLE points_values (
    profile TEXT NOT NULL, sku TEXT NOT NULL, points TEXT NOT NULL,
    PRIMARY KEY (profile, sku));
"""


def _refetch_own_store_config(conn: sqlite3.Connection) -> None:
    """The record central sent before had no zone: forget where the store's own config
    streams stand, so that the next catch-up sends the record (now with its zone) again.
    The rows stay until they are replaced; the checksum starts again from empty."""
    own = stream_name(STORE_CONFIG, Scope("store", "%"))  # a LIKE pattern
    conn.execute("DELETE FROM entry_hashes WHERE stream LIKE ?", (own,))
    conn.execute("DELETE FROM streams WHERE stream LIKE ?", (own,))


CUSTOMERS = """
CREATE TABLE customers (
    n INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, mobile TEXT, email_key TEXT,
    erased INTEGER NOT NULL DEFAULT 0, data TEXT NOT NULL);
CREATE INDEX customers_mobile ON customers (mobile) WHERE mobile IS NOT NULL;
CREATE INDEX customers_email ON customers (email_key) WHERE email_key IS NOT NULL;
CREATE VIRTUAL TABLE customer_names USING fts5(
    key, tokenize = 'ascii', prefix = '2 3', detail = none);
CREATE TABLE customer_cards (
    number TEXT PRIMARY KEY, customer TEXT NOT NULL, kind TEXT NOT NULL,
    active INTEGER NOT NULL) WITHOUT ROWID;
CREATE INDEX customer_cards_customer ON customer_cards (customer);
CREATE TABLE customer_fields (
    code TEXT PRIMARY KEY, position INTEGER NOT NULL, active INTEGER NOT NULL,
    data TEXT NOT NULL);
CREATE TABLE customer_policies (scope TEXT PRIMARY KEY, data TEXT NOT NULL);
CREATE TABLE customer_alerts (
    code TEXT PRIMARY KEY, position INTEGER NOT NULL, active INTEGER NOT NULL,
    data TEXT NOT NULL);
CREATE TABLE customer_redirects (old TEXT PRIMARY KEY, survivor TEXT NOT NULL);
CREATE TABLE customer_local_edits (
    edit_id TEXT PRIMARY KEY, customer TEXT NOT NULL, at TEXT NOT NULL, body TEXT NOT NULL);
CREATE INDEX customer_local_edits_customer ON customer_local_edits (customer);
"""
"""Customers (issue 15): ``customers.data`` is the record in its wire form; the name search
runs on ``customer_names`` (FTS5 over the folded search key, rowid = ``customers.n``, prefix
indexes for 2 and 3 letters); ``customer_local_edits`` are this store's edits central has
not confirmed yet (store_agent.pos.customers)."""


ENTRY_HASHES_WITHOUT_ROWID = """
CREATE TABLE entry_hashes_new (
    stream TEXT NOT NULL, entity TEXT NOT NULL, key TEXT NOT NULL, hash TEXT NOT NULL,
    PRIMARY KEY (stream, entity, key)) WITHOUT ROWID;
INSERT INTO entry_hashes_new (stream, entity, key, hash)
    SELECT stream, entity, key, hash FROM entry_hashes;
DROP TABLE entry_hashes;
ALTER TABLE entry_hashes_new RENAME TO entry_hashes;
"""


# Issue 15 at scale: a million customers' bootstrap must not keep every snapshot part as
# text, nor an entry_hashes row per customer and per card (about 155 bytes a customer: the
# stream, entity and key written again beside the row). Central's hash of each customer and
# card now sits in its own row (NULL: this store's own record, or one read from a lookup
# at central, outside the stream), and a customers snapshot is staged part by part in
# tables of the same shape that the swap renames into place (store_agent.sync.
# customer_snapshot). The id's uniqueness becomes an index of its own so that the staged
# rows go in with no index to maintain, and the swap builds the indexes once. The name index
# keeps no column sizes (only a ranking would read them; the till lists matches as found).
CUSTOMER_ROW_HASHES = """
CREATE TABLE customers_new (
    n INTEGER PRIMARY KEY, id TEXT NOT NULL, mobile TEXT, email_key TEXT,
    erased INTEGER NOT NULL DEFAULT 0, entry_hash INTEGER, data TEXT NOT NULL);
INSERT INTO customers_new (n, id, mobile, email_key, erased, entry_hash, data)
    SELECT c.n, c.id, c.mobile, c.email_key, c.erased, agent_hash_row(h.hash), c.data
    FROM customers c LEFT JOIN entry_hashes h
        ON h.stream = 'customers' AND h.entity = 'customer' AND h.key = c.id;
DROP TABLE customers;
ALTER TABLE customers_new RENAME TO customers;
CREATE UNIQUE INDEX customers_id ON customers (id);
CREATE INDEX customers_mobile ON customers (mobile) WHERE mobile IS NOT NULL;
CREATE INDEX customers_email ON customers (email_key) WHERE email_key IS NOT NULL;
CREATE VIRTUAL TABLE customer_names_new USING fts5(
    key, tokenize = 'ascii', prefix = '2 3', detail = none, columnsize = 0);
INSERT INTO customer_names_new (rowid, key) SELECT rowid, key FROM customer_names;
DROP TABLE customer_names;
ALTER TABLE customer_names_new RENAME TO customer_names;
ALTER TABLE customer_cards ADD COLUMN entry_hash INTEGER;
UPDATE customer_cards SET entry_hash = (
    SELECT agent_hash_row(h.hash) FROM entry_hashes h WHERE h.stream = 'customers'
    AND h.entity = 'customer_card' AND h.key = customer_cards.number);
DELETE FROM entry_hashes WHERE stream = 'customers' AND entity IN ('customer', 'customer_card');
CREATE TABLE customers_staging (
    n INTEGER PRIMARY KEY, id TEXT NOT NULL, mobile TEXT, email_key TEXT,
    erased INTEGER NOT NULL DEFAULT 0, entry_hash INTEGER, data TEXT NOT NULL);
CREATE VIRTUAL TABLE customer_names_staging USING fts5(
    key, tokenize = 'ascii', prefix = '2 3', detail = none, columnsize = 0);
CREATE TABLE customer_cards_staging (
    number TEXT PRIMARY KEY, customer TEXT NOT NULL, kind TEXT NOT NULL,
    active INTEGER NOT NULL, entry_hash INTEGER) WITHOUT ROWID;
"""


def _customer_row_hashes(conn: sqlite3.Connection) -> None:
    # Imported here: the hash's row form belongs to the replica, not to the schema's history.
    from store_agent.sync.row_hash import from_hex

    conn.create_function("agent_hash_row", 1, lambda text: None if text is None
                         else from_hex(str(text)), deterministic=True)
    for statement in statements(CUSTOMER_ROW_HASHES):
        conn.execute(statement)


# A chain whose customers mostly hold points sends a balance per customer: through the
# generic path a million of them took a quarter of an hour at the end of a customers
# snapshot, in its swap's write transaction, and kept an entry_hashes row each. The hash
# now sits in the balance's row, the table has no rowid (the customer key is stored once),
# and a snapshot stages the balances with the customers (store_agent.sync.customer_snapshot).
POINTS_ROW_HASHES = """
CREATE TABLE points_balances_new (
    customer TEXT PRIMARY KEY, points TEXT NOT NULL, updated_at TEXT NOT NULL,
    entry_hash INTEGER) WITHOUT ROWID;
INSERT INTO points_balances_new (customer, points, updated_at, entry_hash)
    SELECT b.customer, b.points, b.updated_at, agent_hash_row(h.hash)
    FROM points_balances b LEFT JOIN entry_hashes h
        ON h.stream = 'customers' AND h.entity = 'points_balance' AND h.key = b.customer;
DROP TABLE points_balances;
ALTER TABLE points_balances_new RENAME TO points_balances;
DELETE FROM entry_hashes WHERE stream = 'customers' AND entity = 'points_balance';
CREATE TABLE points_balances_staging (
    customer TEXT PRIMARY KEY, points TEXT NOT NULL, updated_at TEXT NOT NULL,
    entry_hash INTEGER) WITHOUT ROWID;
"""


def _points_row_hashes(conn: sqlite3.Connection) -> None:
    from store_agent.sync.row_hash import from_hex

    conn.create_function("agent_hash_row", 1, lambda text: None if text is None
                         else from_hex(str(text)), deterministic=True)
    for statement in statements(POINTS_ROW_HASHES):
        conn.execute(statement)


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "the schema of the agents before migrations", (
        BASELINE,
        _add_column("products", "family", "TEXT"),
        # Databases from before checksums: an empty checksum differs from central's, so
        # the first comparison sends a snapshot that fills entry_hashes in.
        _add_column("streams", "checksum", "TEXT"),
    )),
    Migration(2, "PLU tracking triggers in the schema, switched on by a meta flag", (
        _keep_plu_tracking, PLU_TRIGGERS)),
    Migration(3, "the store's time zone", (
        _add_column("store_info", "time_zone", "TEXT"),
        _refetch_own_store_config)),
    # Products from before units: NULL reads as piece (rules.pricing.unit_of). Agents just
    # before migrations added it themselves: then there is nothing to do.
    Migration(4, "the unit a product is sold in", (_add_column("products", "unit", "TEXT"),)),
    Migration(5, "cashiers of the store (store-config)", ("""
CREATE TABLE IF NOT EXISTS cashiers (
    code TEXT PRIMARY KEY, name TEXT NOT NULL, pin_hash TEXT NOT NULL,
    active INTEGER NOT NULL);
""",)),
    Migration(6, "the loyalty programme: profiles, levels, gifts, points values", (LOYALTY,)),
    Migration(7, "the chain's customers, their cards, questions, alerts and redirects",
              (CUSTOMERS,)),
    # A store holds an entry hash per customer and per card: as a rowid table with its
    # primary-key index each key was stored twice (about 130 bytes a customer more).
    Migration(8, "entry hashes without rowid", (ENTRY_HASHES_WITHOUT_ROWID,)),
    Migration(9, "instructions to tills, who saw them, the message to the seller", ("""
CREATE TABLE IF NOT EXISTS instructions (
    id TEXT PRIMARY KEY, text TEXT NOT NULL, scroll INTEGER NOT NULL,
    valid_from TEXT, valid_until TEXT, cashier TEXT);
""", """
CREATE TABLE IF NOT EXISTS instructions_seen (
    instruction TEXT NOT NULL, cashier TEXT NOT NULL, seen_at TEXT NOT NULL,
    PRIMARY KEY (instruction, cashier));
""", """
CREATE TABLE IF NOT EXISTS seller_messages (store TEXT PRIMARY KEY, text TEXT NOT NULL);
""")),
    Migration(10, "footfall counter readings", ("""
CREATE TABLE IF NOT EXISTS footfall (
    counter TEXT NOT NULL, start TEXT NOT NULL, minutes INTEGER NOT NULL,
    in_count INTEGER NOT NULL, out_count INTEGER NOT NULL, received_at TEXT NOT NULL,
    PRIMARY KEY (counter, start));
""",)),
    Migration(11, "the store's survey and the answers given after sales", ("""
CREATE TABLE IF NOT EXISTS surveys (store TEXT PRIMARY KEY, code TEXT NOT NULL,
                                    data TEXT NOT NULL);
""", """
CREATE TABLE IF NOT EXISTS survey_answers (
    sale TEXT PRIMARY KEY, survey TEXT NOT NULL, answers TEXT NOT NULL,
    answered_at TEXT NOT NULL);
""")),
    Migration(12, "display content from head office", ("""
CREATE TABLE IF NOT EXISTS display_content (store TEXT PRIMARY KEY, data TEXT NOT NULL);
""",)),
    Migration(13, "central's hash in each customer's and card's row; a staged customers "
              "snapshot", (_customer_row_hashes,)),
    Migration(14, "customers' points balances from central", ("""
CREATE TABLE IF NOT EXISTS points_balances (
    customer TEXT PRIMARY KEY, points TEXT NOT NULL, updated_at TEXT NOT NULL);
""",)),
    # A kiosk offline for a day queues thousands of sales: the till's points standing read
    # every queued sale's JSON for each customer it recalled (37 ms at 20k queued sales,
    # 0.2 ms with the index), and a customer's pending edits scanned the outbox per edit.
    Migration(15, "the outbox found by kind and reference, and queued sales by customer", ("""
CREATE INDEX IF NOT EXISTS outbox_kind_ref ON outbox (kind, ref);
""", """
CREATE INDEX IF NOT EXISTS outbox_sale_customer ON outbox (json_extract(body, '$.customer'))
    WHERE kind = 'sale';
""")),
    Migration(16, "central's hash in each points balance's row; balances staged with a "
              "customers snapshot", (_points_row_hashes,)),
    Migration(17, "the points a product generates (SPEC L2)", (
        _add_column("products", "points_generated", "TEXT"),)),
)


def statements(script: str) -> Iterator[str]:
    """The SQL statements of ``script`` (trigger bodies kept whole)."""
    pending = ""
    for line in script.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            if pending.strip():
                yield pending.strip()
            pending = ""
    if pending.strip():
        raise ValueError(f"incomplete SQL statement: {pending.strip()[:60]!r}")


def applied(conn: sqlite3.Connection) -> int:
    """The number of the last migration committed in this database (0: none)."""
    if conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'"
                    ).fetchone() is None:
        return 0
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (META_KEY,)).fetchone()
    return 0 if row is None else int(row[0])


def migrate(conn: sqlite3.Connection,
            migrations: tuple[Migration, ...] = MIGRATIONS) -> list[int]:
    """Run every migration not yet recorded, each in its own transaction; returns their
    numbers. ``conn`` must be in autocommit mode (isolation_level=None)."""
    done: list[int] = []
    latest = migrations[-1].number if migrations else 0
    for migration in migrations:
        conn.execute("BEGIN IMMEDIATE")  # another process may be migrating: wait for it
        try:
            if applied(conn) >= migration.number:
                conn.execute("ROLLBACK")
                continue
            for step in migration.steps:
                if isinstance(step, str):
                    for statement in statements(step):
                        conn.execute(statement)
                else:
                    step(conn)
            conn.execute("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) "
                         "DO UPDATE SET value = excluded.value",
                         (META_KEY, str(migration.number)))
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        log.info("agent database migrated to %d (%s)", migration.number, migration.name)
        done.append(migration.number)
    current = applied(conn)
    if current > latest:
        log.warning("the agent database is at migration %d, newer than this agent knows "
                    "(%d): it was opened by a newer agent", current, latest)
    return done
