"""The fleet dashboard (every store, live) and a store's page (SPEC N6, D3)."""

from __future__ import annotations

from flask import request
from flask.typing import ResponseReturnValue

from central.api.access import now
from central.console.pages import page_blueprint, render
from central.services import fleet, store_activity, stores
from central.transactions import db_session

fleet_bp = page_blueprint("fleet", __name__)

POLL_SECONDS = 2
MAX_GROUPS = 500


@fleet_bp.get("/")
def dashboard() -> ResponseReturnValue:
    group = request.args.get("group") or None
    db = db_session()
    groups, _count = stores.list_groups(db, 1, MAX_GROUPS)
    if group is not None and group not in {g.code for g in groups}:
        group = None  # an unknown group filters nothing rather than failing the page
    rows, _total = fleet.fleet(db, group=group, now=now())
    counts = {state: sum(1 for r in rows if r.state == state)
              for state in ("online", "silent", "offline", "never")}
    return render("fleet/dashboard.html", fragment="fleet/_table.html", rows=rows,
                  groups=groups, group=group, counts=counts, poll=POLL_SECONDS)


@fleet_bp.get("/stores/<code>")
def store(code: str) -> ResponseReturnValue:
    seen = store_activity.activity(db_session(), code)
    return render("fleet/store.html", fragment="fleet/_store_live.html", seen=seen,
                  poll=POLL_SECONDS)
