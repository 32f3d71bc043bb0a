"""``tessera fleet`` (also ``tessera central fleet``): every store's state as a table or JSON,
read from central's database without creating one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from central.cli import _settings


@click.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON object per store, as the API.")
@click.option("--online/--offline", "online", default=None,
              help="Only the stores online (or not).")
def fleet(as_json: bool, online: bool | None) -> None:
    """Show every store: online, last seen, versions, lag per stream, upstream backlog."""
    import datetime as dt
    import json

    from sqlalchemy.exc import OperationalError, ProgrammingError

    from central.api.fleet_views import FleetStoreOut
    from central.db import Database
    from central.services import fleet as fleet_mod

    settings = _settings()
    url = _existing_database(settings.database_url)
    db = Database(url)
    try:
        with db.sessions() as session:
            stores, _total = fleet_mod.fleet(session, online=online)
    except (OperationalError, ProgrammingError) as exc:
        raise click.ClickException(
            f"cannot read the fleet from {url.split('@')[-1]} ({exc.orig}); is it a central "
            f"database? `tessera central migrate` sets one up") from exc
    finally:
        db.dispose()
    if as_json:
        click.echo(json.dumps(FleetStoreOut(many=True).dump(stores), indent=2))
        return
    click.echo(fleet_table(stores, dt.datetime.now(dt.UTC)))


DEMO_DATABASE = Path("var/demo/central.db")


def _existing_database(url: str) -> str:
    """The database to read: never a new empty SQLite file as a side effect.

    Without TESSERA_DATABASE_URL or TESSERA_VAR_DIR, in a checkout where `make demo` ran,
    that is the demo's database.
    """
    if not url.startswith("sqlite:///"):
        return url
    path = Path(url[len("sqlite:///"):])
    if path.exists():
        return url
    default = path.resolve() == (Path("var") / "central.db").resolve()  # nothing was set
    if default and DEMO_DATABASE.exists():
        click.echo(f"reading the demo's database {DEMO_DATABASE}", err=True)
        return f"sqlite:///{DEMO_DATABASE.resolve()}"
    raise click.ClickException(
        f"no central database at {path}: set TESSERA_DATABASE_URL (postgresql://... or "
        f"sqlite:///path), or TESSERA_VAR_DIR=var/demo for the demo's")


def _age(moment: Any, now: Any) -> str:
    if moment is None:
        return "never"
    seconds = int((now - moment).total_seconds())
    if seconds < 120:
        return f"{max(seconds, 0)}s ago"
    if seconds < 7200:
        return f"{seconds // 60}m ago"
    if seconds < 172800:
        return f"{seconds // 3600}h ago"
    return f"{seconds // 86400}d ago"


def fleet_table(stores: Any, now: Any) -> str:
    """The fleet as an aligned text table, one store a line, then a summary line."""
    header = ("STORE", "STATE", "SINCE", "LAST SEEN", "AGENT", "PROTO", "EPOCH", "LAG",
              "BACKLOG", "STREAMS BEHIND")
    rows = []
    for store in stores:
        state = store.state.upper() if store.state in ("offline", "silent") else store.state
        behind = ", ".join(f"{s.stream}:-{s.lag}" for s in store.streams if s.lag) or "-"
        rows.append((store.code + ("" if store.active else " (inactive)"), state,
                     _age(store.changed_at, now) if store.session is not None else "-",
                     _age(store.last_seen, now), store.agent_version or "-",
                     "-" if store.protocol_version is None else str(store.protocol_version),
                     (store.epoch or "-")[:8], str(store.lag),
                     "?" if store.backlog is None else str(store.backlog), behind))
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
             for row in [header, *rows]]
    online = sum(1 for s in stores if s.online)
    lines.append(f"{len(stores)} stores, {online} online, {len(stores) - online} not online")
    return "\n".join(lines)
