"""The fleet view (SPEC N6): births, wills, stale wills, lag per stream, upstream backlog,
through the service, ``GET /api/v1/fleet`` and ``tessera fleet``."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from flask.testing import FlaskClient

from central.bridge.ingester import HANDLERS
from central.db import Database
from central.fleet_cli import fleet_table
from central.migrate import log_epoch
from central.models import StoreStatus
from central.services import changelog, fleet, stores, upstream
from protocol import messages, topics
from protocol.encoding import WireError, dumps, loads
from protocol.streams import Scope
from tessera.cli import main as tessera_cli
from tests.support import api_token, authorize

pytestmark = pytest.mark.integration

T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)


@pytest.fixture
def db(clean_pg_db: Database) -> Database:
    with clean_pg_db.transaction() as session:
        stores.create_group(session, "north", "North")
        stores.create_store(session, "kiosk-1", "Kiosk", "north")
        stores.create_store(session, "market", "Market", None)
        for i in range(3):
            changelog.record(session, "catalog", Scope("all"), "category", f"c{i}", "upsert",
                             {"code": f"c{i}"})
        changelog.record(session, "prices", Scope("group", "north"), "price", "x|-", "upsert",
                         {})
    return clean_pg_db


def state(kind: str, store: str, session: int, **extra: Any) -> dict[str, Any]:
    """A birth or death as the publisher hands it over: encoded, decoded, validated."""
    body = messages.envelope(kind, store=store, online=kind == "birth", session=session,
                             **extra)
    return messages.parse(loads(dumps(body)), kind)


def record(db: Database, message: dict[str, Any], at: dt.datetime = T0) -> bool:
    with db.transaction() as session:
        return fleet.record_state(session, message, at)


def view(db: Database) -> dict[str, fleet.StoreLiveness]:
    with db.sessions() as session:
        rows, total = fleet.fleet(session)
    assert total == len(rows)
    return {row.code: row for row in rows}


def birth(db: Database, store: str = "kiosk-1", session: int = 5, **extra: Any) -> None:
    body = {"agent_version": "0.1.0", "epoch": "e1", "log_epoch": log_epoch(db),
            "streams": {"catalog": 1, "store-config@s:kiosk-1": 1}, "outbox_head": 7,
            "outbox_pending": 3, **extra}
    assert record(db, state("birth", store, session, **body))


def test_a_store_never_heard_of_is_listed_offline_with_everything_to_catch_up(
        db: Database) -> None:
    market = view(db)["market"]
    assert (market.online, market.last_seen, market.session, market.backlog) == (
        False, None, None, None)
    assert [(s.stream, s.applied, s.head, s.lag) for s in market.streams] == [
        ("catalog", 0, 3, 3), ("store-config@s:market", 0, 1, 1)]
    assert market.lag == 4


def test_a_birth_records_versions_lag_and_backlog(db: Database) -> None:
    birth(db)
    kiosk = view(db)["kiosk-1"]
    assert (kiosk.online, kiosk.last_seen, kiosk.changed_at, kiosk.session) == (
        True, T0, T0, 5)
    assert (kiosk.agent_version, kiosk.protocol_version, kiosk.epoch) == ("0.1.0", 1, "e1")
    # kiosk-1 follows catalog, its group's prices and its own configuration.
    assert {s.stream: s.lag for s in kiosk.streams} == {
        "catalog": 2, "prices@g:north": 1, "store-config@s:kiosk-1": 0}
    assert kiosk.lag == 3
    assert (kiosk.outbox_head, kiosk.acked_seq, kiosk.backlog) == (7, 0, 7)


def test_a_store_cannot_claim_versions_central_has_not_made(db: Database) -> None:
    birth(db, streams={"catalog": 10**12})
    (catalog,) = [s for s in view(db)["kiosk-1"].streams if s.stream == "catalog"]
    assert (catalog.applied, catalog.head, catalog.lag) == (3, 3, 0)


def test_versions_of_another_log_history_count_for_nothing(db: Database) -> None:
    birth(db, log_epoch="an-older-central-log")
    assert view(db)["kiosk-1"].lag == 5


def test_a_will_takes_the_store_offline_and_a_stale_will_is_ignored(db: Database) -> None:
    birth(db, session=5)
    assert record(db, state("death", "kiosk-1", 5), T0 + dt.timedelta(seconds=40))
    kiosk = view(db)["kiosk-1"]
    assert (kiosk.online, kiosk.changed_at) == (False, T0 + dt.timedelta(seconds=40))

    birth(db, session=6)
    # The will of connection 5 reaches central again after birth 6 (half-open TCP).
    assert not record(db, state("death", "kiosk-1", 5), T0 + dt.timedelta(seconds=90))
    kiosk = view(db)["kiosk-1"]
    assert (kiosk.online, kiosk.session) == (True, 6)
    # A birth is the store's own word, always believed (issue 10: a forged counter must
    # not make every real birth after it look stale).
    assert record(db, state("birth", "kiosk-1", 2**62))
    assert record(db, state("birth", "kiosk-1", 7))
    assert view(db)["kiosk-1"].session == 7
    assert not record(db, state("death", "kiosk-1", 6))


def test_an_online_store_not_heard_of_for_two_minutes_is_shown_silent(db: Database) -> None:
    birth(db)
    with db.sessions() as session:
        rows, _ = fleet.fleet(session, now=T0 + dt.timedelta(seconds=119))
        assert [r.state for r in rows] == ["online", "never"]
        rows, _ = fleet.fleet(session, now=T0 + dt.timedelta(seconds=121))
        assert [r.state for r in rows] == ["silent", "never"]


def test_a_reinstalled_store_with_a_lower_counter_is_believed(db: Database) -> None:
    birth(db, session=50)
    birth(db, session=1, epoch="a-new-database")
    kiosk = view(db)["kiosk-1"]
    assert (kiosk.online, kiosk.session, kiosk.epoch) == (True, 1, "a-new-database")


def test_states_of_unknown_stores_are_ignored(db: Database) -> None:
    assert not record(db, state("birth", "nowhere", 1))


def test_catch_up_requests_and_batches_keep_the_view_current(db: Database) -> None:
    birth(db, outbox_head=2)
    request = messages.parse(loads(dumps(messages.envelope(
        "catch_up", store="kiosk-1", log_epoch=log_epoch(db),
        streams={"catalog": 3, "prices@g:north": 1}))), "catch_up")
    with db.transaction() as session:
        fleet.record_catch_up(session, request, T0 + dt.timedelta(seconds=30))
    kiosk = view(db)["kiosk-1"]
    assert kiosk.last_seen == T0 + dt.timedelta(seconds=30)
    assert {s.stream: s.lag for s in kiosk.streams} == {
        "catalog": 0, "prices@g:north": 0, "store-config@s:kiosk-1": 1}

    entries = [{"seq": seq, "kind": "sale", "id": f"00000000-0000-4000-8000-00000000000{seq}",
                "body": {"not": "a sale"}} for seq in (1, 2)]
    batch = messages.parse(loads(dumps(messages.envelope(
        "batch", store="kiosk-1", epoch="e1", entries=entries, head=9))), "batch")
    with db.transaction() as session:
        upstream.ingest_batch(session, batch, topics.store_up("kiosk-1"), HANDLERS)
    kiosk = view(db)["kiosk-1"]
    assert (kiosk.outbox_head, kiosk.acked_seq, kiosk.backlog) == (9, 2, 7)
    assert kiosk.last_seen is not None and kiosk.last_seen > T0 + dt.timedelta(seconds=30)


# -- REST and command line ----------------------------------------------------------------------

def test_the_api_lists_the_fleet_for_any_role_and_filters_by_state(
        db: Database, anonymous: FlaskClient) -> None:
    birth(db)
    assert anonymous.get("/api/v1/fleet/").status_code == 401
    authorize(anonymous, api_token(db, "read-only"))
    response = anonymous.get("/api/v1/fleet/")
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert [row["code"] for row in body] == ["kiosk-1", "market"]
    kiosk = body[0]
    keys = ("online", "state", "session", "agent_version", "protocol_version", "epoch",
            "outbox_head", "acked_seq", "backlog", "lag")
    # Born at T0, long before this test runs: online, but silent since.
    assert {k: kiosk[k] for k in keys} == {
        "online": True, "state": "silent", "session": 5, "agent_version": "0.1.0",
        "protocol_version": 1, "epoch": "e1", "outbox_head": 7, "acked_seq": 0, "backlog": 7,
        "lag": 3}
    assert kiosk["last_seen"] == T0.isoformat()
    assert {"stream": "catalog", "applied": 1, "head": 3, "lag": 2} in kiosk["streams"]
    assert [r["code"] for r in anonymous.get("/api/v1/fleet/?online=false").get_json()] == [
        "market"]
    assert anonymous.post("/api/v1/fleet/", json={}).status_code == 405


def test_tessera_fleet_prints_a_table_and_json(db: Database) -> None:
    birth(db)
    assert record(db, state("death", "kiosk-1", 5), T0 + dt.timedelta(seconds=10))
    runner = CliRunner()
    env = {"TESSERA_DATABASE_URL": db.url}
    table = runner.invoke(tessera_cli, ["fleet"], env=env)
    assert table.exit_code == 0, table.output
    lines = table.output.splitlines()
    assert lines[0].split()[:4] == ["STORE", "STATE", "SINCE", "LAST"]
    assert lines[1].split()[:2] == ["kiosk-1", "OFFLINE"]
    assert lines[2].split()[:2] == ["market", "never"]
    assert lines[-1] == "2 stores, 0 online, 2 not online"
    as_json = runner.invoke(tessera_cli, ["fleet", "--json"], env=env)
    assert as_json.exit_code == 0, as_json.output
    assert [(r["code"], r["online"]) for r in json.loads(as_json.output)] == [
        ("kiosk-1", False), ("market", False)]


def test_the_table_shows_what_is_behind() -> None:
    row = fleet.StoreLiveness(
        code="kiosk-1", name="Kiosk", group=None, active=True, online=True,
        last_seen=T0 - dt.timedelta(seconds=3), changed_at=T0 - dt.timedelta(hours=3),
        session=7, agent_version="0.1.0", protocol_version=1, epoch="0123456789abcdef",
        log_epoch="x", outbox_head=12, acked_seq=10, state="online",
        streams=[fleet.StreamLag("catalog", 40, 42), fleet.StreamLag("prices", 5, 5)])
    line = fleet_table([row], T0).splitlines()[1].split()
    assert line == ["kiosk-1", "online", "3h", "ago", "3s", "ago", "0.1.0", "1", "01234567",
                    "2", "2", "catalog:-2"]


def test_status_rows_survive_a_store_without_streams(db: Database) -> None:
    with db.transaction() as session:
        store_id = stores.get_store(session, "market").id
        session.add(StoreStatus(store_id=store_id, online=True, session=1, streams=None))
    assert view(db)["market"].online


def test_a_forged_head_lasts_only_until_the_store_reports_again(db: Database) -> None:
    """Issue 10, item 8: the head is the store's latest claim, not a running maximum."""
    birth(db, outbox_head=0)

    def batch(seqs: tuple[int, ...], head: int) -> None:
        entries = [{"seq": seq, "kind": "sale", "id": f"00000000-0000-4000-8000-{seq:012d}",
                    "body": {"not": "a sale"}} for seq in seqs]
        message = messages.parse(loads(dumps(messages.envelope(
            "batch", store="kiosk-1", epoch="e1", entries=entries, head=head))), "batch")
        with db.transaction() as session:
            upstream.ingest_batch(session, message, topics.store_up("kiosk-1"), HANDLERS)

    batch((1,), head=999999)
    assert view(db)["kiosk-1"].backlog == 999998
    batch((2,), head=2)  # the store's next sale: its real head
    assert view(db)["kiosk-1"].backlog == 0
    batch((3,), head=1)  # a head below the entries in hand is not believed
    assert (view(db)["kiosk-1"].outbox_head, view(db)["kiosk-1"].backlog) == (3, 0)


def test_tessera_fleet_without_a_database_says_what_to_set(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 10, item 10: no traceback, and no empty var/central.db left behind."""
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(tessera_cli, ["fleet"], env={
        "TESSERA_DATABASE_URL": None, "TESSERA_VAR_DIR": None})
    assert result.exit_code == 1
    assert "set TESSERA_DATABASE_URL" in result.output
    assert not (tmp_path / "var" / "central.db").exists()


def test_a_catch_up_request_carries_the_real_head_of_its_epoch_only(db: Database) -> None:
    """Issue 10, item 8: the periodic catch-up request corrects the backlog figure and the
    epoch (a forged birth's too); one from an older agent without the fields leaves them."""
    birth(db, outbox_head=999999)

    def catch_up(**extra: Any) -> None:
        message = messages.parse(loads(dumps(messages.envelope(
            "catch_up", store="kiosk-1", log_epoch=log_epoch(db), streams={}, **extra))),
            "catch_up")
        with db.transaction() as session:
            fleet.record_catch_up(session, message, T0)

    catch_up()  # an older agent: nothing to go by
    assert view(db)["kiosk-1"].backlog == 999999
    catch_up(epoch="e1", outbox_head=4, outbox_pending=4)
    assert (view(db)["kiosk-1"].outbox_head, view(db)["kiosk-1"].backlog) == (4, 4)
    record(db, state("birth", "kiosk-1", 6, epoch="forged", outbox_head=999999))
    catch_up(epoch="e1", outbox_head=5, outbox_pending=5)
    assert (view(db)["kiosk-1"].epoch, view(db)["kiosk-1"].backlog) == ("e1", 5)
    with pytest.raises(WireError, match="outbox_head"):
        messages.parse(messages.envelope("catch_up", store="kiosk-1", streams={},
                                         epoch="e1", outbox_head=2**63), "catch_up")


def test_the_birth_carries_the_fiscal_printer_state_and_a_later_birth_replaces_it(
        db: Database, client: FlaskClient) -> None:
    birth(db, printer={"state": "error", "message": "out of paper"})
    kiosk = view(db)["kiosk-1"]
    assert (kiosk.printer_state, kiosk.printer_message) == ("error", "out of paper")
    authorize(client, api_token(db, "read-only"))
    row = client.get("/api/v1/fleet/").get_json()[0]
    assert (row["printer_state"], row["printer_message"]) == ("error", "out of paper")
    # The roll changed: the agent publishes its birth again, the message goes.
    birth(db, printer={"state": "ok", "message": None})
    assert (view(db)["kiosk-1"].printer_state, view(db)["kiosk-1"].printer_message) == (
        "ok", None)
    # A death says nothing about the printer: the last state stays until the next birth.
    assert record(db, state("death", "kiosk-1", 5))
    assert view(db)["kiosk-1"].printer_state == "ok"
    # An older agent (or a store without a printer) does not report one.
    birth(db, session=6)
    assert view(db)["kiosk-1"].printer_state is None
    assert view(db)["market"].printer_state is None


def test_a_printer_field_that_breaks_the_contract_is_refused_with_the_birth() -> None:
    for bad in ({"message": "no state"}, {"state": "Out Of Paper!"},
                {"state": "error", "message": "x" * 501}, {"state": "error", "message": "a\x00"}):
        body = messages.envelope("birth", store="kiosk-1", online=True, session=1, printer=bad)
        with pytest.raises(WireError):
            messages.parse(loads(dumps(body)), "birth")
