"""``tessera central ...`` commands."""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from typing import Any

import click

from central import settings as settings_mod
from central.roles import ROLES


def _settings() -> settings_mod.CentralSettings:
    try:
        settings = settings_mod.load()
    except settings_mod.SettingsError as exc:
        raise click.UsageError(str(exc)) from exc
    logging.basicConfig(level=settings.log_level,
                        format="%(asctime)s central %(name)s %(levelname)s %(message)s")
    return settings


CONSOLE_SETTINGS = ("The head-office console commands need central's settings: at least "
                    "TESSERA_DATABASE_URL (postgresql://...), and for broker logins "
                    "TESSERA_BROKER_AUTH_DIR and TESSERA_BROKER_PID_FILE or _RELOAD_COMMAND; "
                    "load them as the services do, e.g. `set -a; . /etc/tessera/central.env; "
                    "set +a`")


class _CentralGroup(click.Group):
    """Turns a database that cannot be opened into one clear line instead of a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        from sqlalchemy.exc import OperationalError

        try:
            return super().invoke(ctx)
        except OperationalError as exc:
            url = settings_mod.load().database_url
            where = (f"central's database {url} cannot be used (without TESSERA_DATABASE_URL "
                     "central looks for a demo SQLite file under TESSERA_VAR_DIR)"
                     if url.startswith("sqlite") else
                     "the database in TESSERA_DATABASE_URL cannot be opened")
            raise click.ClickException(f"{where}: {exc.orig}. {CONSOLE_SETTINGS}") from exc


@click.group(cls=_CentralGroup)
def central() -> None:
    """Head office: web API, migrations and the MQTT bridge workers."""


@central.command()
def migrate() -> None:
    """Create or upgrade the database schema."""
    from central import migrate as migrate_mod
    from central.db import Database

    settings = _settings()
    db = Database(settings.database_url)
    migrate_mod.upgrade(db)
    click.echo(f"database at {settings.database_url.split('@')[-1]} is up to date")


@central.command()
def serve() -> None:
    """Serve the web API with gunicorn on TESSERA_CENTRAL_LISTEN."""
    settings = _settings()
    args = [sys.executable, "-m", "gunicorn", "--bind", settings.listen,
            "--workers", str(settings.web_workers), "--worker-class", "gthread",
            "--threads", "4", "--access-logfile", "-", "--graceful-timeout", "5",
            "--control-socket", str(settings.var_dir / "gunicorn.ctl"),
            "central.app:create_app()"]
    os.execv(sys.executable, args)


def _run_worker(worker: Any, link: Any) -> None:
    stop = threading.Event()

    def on_signal(_signum: int, _frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    link.start()
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    stop.wait()
    worker.stop()
    thread.join(timeout=5)


@central.command()
def publish() -> None:
    """Publish committed changes to the stores and answer their catch-up requests."""
    from central import migrate as migrate_mod
    from central.bridge import publisher
    from central.db import Database

    settings = _settings()
    db = Database(settings.database_url)
    link = publisher.build_link(settings.broker)
    worker = publisher.Publisher(db, link, migrate_mod.log_epoch(db),
                                 interval=settings.publish_interval)
    _run_worker(worker, link)
    link.stop(farewell=(publisher.topics.CENTRAL_STATE, publisher.central_state(False)))


@central.command()
@click.option("--name", default=None, help="Client id suffix, unique per ingest worker.")
@click.option("--reprice/--no-reprice", default=True, show_default=True,
              help="Also re-price received sales when ingest is quiet; --no-reprice when "
                   "`tessera central reprice` runs on its own.")
def ingest(name: str | None, reprice: bool) -> None:
    """Ingest store batches (sales...) exactly once and answer store requests (rpc);
    several workers may run."""
    from central.bridge import ingester, responder
    from central.db import Database
    from transport.mqtt_link import MqttLink

    settings = _settings()
    db = Database(settings.database_url)
    link = MqttLink(settings.broker, f"tessera-central-ingest-{name or os.getpid()}",
                    manual_ack=True)
    worker = ingester.Ingester(db, link)
    answers = responder.Responder(db, link)
    threading.Thread(target=answers.run, name="responder", daemon=True).start()
    repricer = ingester.Repricer(db, busy=worker.busy) if reprice else None
    if repricer is not None:
        threading.Thread(target=repricer.run, name="repricer", daemon=True).start()
    _run_worker(worker, link)
    answers.stop()
    if repricer is not None:
        repricer.stop()
    link.stop()


@central.command()
def reprice() -> None:
    """Re-price received sales and record drift, in its own process (several may run).

    Run the ingest workers with --no-reprice then, so that they spend their time on ingest.
    """
    from central.bridge import ingester
    from central.db import Database

    settings = _settings()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_args: stop.set())
    signal.signal(signal.SIGINT, lambda *_args: stop.set())
    repricer = ingester.Repricer(Database(settings.database_url))
    thread = threading.Thread(target=repricer.run, name="repricer", daemon=True)
    thread.start()
    stop.wait()
    repricer.stop()
    thread.join(timeout=5)


@central.command()
@click.option("--keep", default=10000, show_default=True, type=click.IntRange(min=0),
              help="Leave the latest KEEP versions of each stream as they are: stores less "
                   "than that behind still catch up by replay.")
@click.option("--stream", "streams", multiple=True, help="Only this stream (repeatable).")
def compact(keep: int, streams: tuple[str, ...]) -> None:
    """Compact the change log: forget superseded changes and deletions of old versions.

    Stores behind the compacted part get a snapshot of the stream instead of a replay.
    """
    from central.db import Database
    from central.services import changelog

    settings = _settings()
    db = Database(settings.database_url)
    try:
        with db.sessions() as session:
            heads = changelog.heads(session)
        unknown = set(streams) - set(heads)
        if unknown:
            raise click.UsageError(f"no stream {', '.join(sorted(unknown))}")
        total = 0
        for stream in sorted(streams or heads):
            with db.transaction() as session:
                removed = changelog.compact(session, stream, heads[stream] - keep)
            total += removed
            if removed:
                click.echo(f"{stream}: {removed} changes forgotten up to version "
                           f"{heads[stream] - keep}")
        click.echo(f"{total} changes forgotten")
    finally:
        db.dispose()


@central.command("create-user")
@click.argument("username")
@click.option("--role", "roles", multiple=True, required=True,
              type=click.Choice(ROLES),
              help="A role of the user; repeat for several.")
@click.option("--password-stdin", is_flag=True,
              help="Read the password from the first line of standard input.")
@click.option("--no-password", is_flag=True,
              help="No password sign-in: the user works with API tokens only (scripts).")
def create_user(username: str, roles: tuple[str, ...], password_stdin: bool,
                no_password: bool) -> None:
    """Create a head-office user (asks for the password unless told otherwise)."""
    import datetime as dt

    from central.db import Database
    from central.services import auth
    from central.services.errors import ServiceError

    if password_stdin and no_password:
        raise click.UsageError("choose --password-stdin or --no-password, not both")
    if no_password:
        password = None
    elif password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    elif sys.stdin.isatty():
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True,
                                err=True)
    else:
        raise click.UsageError("no terminal to ask the password on: use --password-stdin "
                               "or --no-password")
    settings = _settings()
    db = Database(settings.database_url)
    try:
        with db.transaction() as session:
            user = auth.create_user(session, username, roles, password, dt.datetime.now(dt.UTC))
            click.echo(f"user {user.username} created with roles {user.roles}", err=True)
    except ServiceError as exc:
        raise _refused(exc) from exc
    finally:
        db.dispose()


@central.command("enrolment-code")
@click.argument("store")
@click.option("--ttl-hours", type=click.FloatRange(min=0.1, max=168), default=24.0,
              show_default=True, help="How long the code works.")
def enrolment_code(store: str, ttl_hours: float) -> None:
    """Issue a one-time code to enrol STORE's PC (printed once, alone on standard output).

    The same as POST /api/v1/stores/STORE/enrolment-codes, for a technician at head office's
    console. Earlier unused codes of the store stop working.
    """
    import datetime as dt

    from central.db import Database
    from central.services import enrolment
    from central.services.errors import ServiceError

    settings = _settings()
    db = Database(settings.database_url)
    try:
        with db.transaction() as session:
            issued = enrolment.issue_code(session, store, dt.datetime.now(dt.UTC),
                                          dt.timedelta(hours=ttl_hours))
    except ServiceError as exc:
        raise _refused(exc) from exc
    finally:
        db.dispose()
    click.echo(f"store {issued.store}: the code works once, until "
               f"{issued.expires_at.isoformat(timespec='minutes')}", err=True)
    click.echo(issued.code)


@central.command("create-token")
@click.argument("username")
@click.option("--name", default="cli", show_default=True,
              help="What the token is for (shown in token listings).")
@click.option("--ttl-hours", type=click.FloatRange(min=0.1), default=None,
              help="Expire after this many hours (default: never).")
def create_token(username: str, name: str, ttl_hours: float | None) -> None:
    """Create an API token for USERNAME and print it, once, alone on standard output."""
    import datetime as dt

    from central.db import Database
    from central.services import auth
    from central.services.errors import ServiceError

    settings = _settings()
    db = Database(settings.database_url)
    try:
        with db.transaction() as session:
            ttl = None if ttl_hours is None else dt.timedelta(hours=ttl_hours)
            _, secret = auth.issue_token(session, username, name, dt.datetime.now(dt.UTC), ttl)
    except ServiceError as exc:
        raise _refused(exc) from exc
    finally:
        db.dispose()
    click.echo(secret)


def _refused(exc: Any) -> click.ClickException:
    """A service's refusal as a command-line error, with its field messages."""
    details = "; ".join(f"{field}: {', '.join(messages)}"
                        for field, messages in exc.errors.items())
    return click.ClickException(exc.message + (f" ({details})" if details else ""))
