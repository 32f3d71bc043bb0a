"""The fleet dashboard (every store, live) and a store's page (SPEC N6, D3)."""

from __future__ import annotations

from typing import Any

from flask import request
from flask.typing import ResponseReturnValue

from central.api.access import now
from central.console import export
from central.console.pages import page_blueprint, render
from central.services import fleet, store_activity, stores
from central.transactions import db_session

fleet_bp = page_blueprint("fleet", __name__)

POLL_SECONDS = 2
MAX_GROUPS = 500


@fleet_bp.get("/")
def dashboard() -> ResponseReturnValue:
    db = db_session()
    groups, _count = stores.list_groups(db, 1, MAX_GROUPS)
    group = _group(groups)
    rows, _total = fleet.fleet(db, group=group, now=now())
    counts = {state: sum(1 for r in rows if r.state == state)
              for state in ("online", "silent", "offline", "never")}
    return render("fleet/dashboard.html", fragment="fleet/_table.html", rows=rows,
                  groups=groups, group=group, counts=counts, poll=POLL_SECONDS,
                  **export.export_links(".export_fleet", group=group))


def _group(groups: list[Any]) -> str | None:
    group = request.args.get("group") or None
    if group is not None and group not in {g.code for g in groups}:
        group = None  # an unknown group filters nothing rather than failing the page
    return group


FLEET_HEADER = ("store", "name", "group", "state", "last_seen", "lag", "sales_waiting",
                "agent_version", "protocol_version", "printer_state", "printer_message")


@fleet_bp.get("/fleet/export.<fmt>")
def export_fleet(fmt: str) -> ResponseReturnValue:
    """The dashboard's stores (its group filter) as they stand now, as CSV or Excel."""
    db = db_session()
    group = _group(stores.list_groups(db, 1, MAX_GROUPS)[0])
    rows, _total = fleet.fleet(db, group=group, now=now())
    return export.table_response(fmt, "fleet", FLEET_HEADER, (
        (r.code, r.name, r.group, r.state, r.last_seen, r.lag, r.backlog, r.agent_version,
         r.protocol_version, r.printer_state, r.printer_message) for r in rows))


@fleet_bp.get("/stores/<code>")
def store(code: str) -> ResponseReturnValue:
    seen = store_activity.activity(db_session(), code)
    return render("fleet/store.html", fragment="fleet/_store_live.html", seen=seen,
                  poll=POLL_SECONDS)
