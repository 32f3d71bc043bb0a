"""``tessera central broker-sync`` and ``broker-revoke``: the broker's logins, for operators.

Registered on the ``tessera central`` group by the last line of central/cli.py.
"""

from __future__ import annotations

from pathlib import Path

import click

from central.cli import _settings
from central.settings import CentralSettings


def _sync(settings: CentralSettings, directory: Path, reload: bool) -> None:
    from central.db import Database
    from central.services import broker_access

    db = Database(settings.database_url)
    try:
        with db.sessions() as session:
            stores = len(broker_access.active_credentials(session))
            changed = broker_access.write_files(session, directory,
                                                broker_access.service_accounts(settings))
        click.echo(f"{directory}: {stores} store logins + central; files "
                   f"{'rewritten' if changed else 'unchanged'}")
        if reload:
            click.echo(broker_access.reload_broker(settings))
    except (broker_access.BrokerAccessError, OSError) as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        db.dispose()


@click.command("broker-sync")
@click.option("--dir", "directory", type=click.Path(file_okay=False, path_type=Path),
              default=None, help="Where to write passwd and acl (default: "
              "TESSERA_BROKER_AUTH_DIR).")
@click.option("--no-reload", is_flag=True, help="Write the files only.")
def broker_sync(directory: Path | None, no_reload: bool) -> None:
    """Write the broker's password and ACL files from the database, then reload the broker.

    Stores whose login was revoked, or that are deactivated, are left out: the broker drops
    them on reload.  Reload is SIGHUP to the pid in TESSERA_BROKER_PID_FILE, or
    TESSERA_BROKER_RELOAD_COMMAND.
    """
    settings = _settings()
    directory = directory or settings.broker_auth_dir
    if directory is None:
        raise click.UsageError("set TESSERA_BROKER_AUTH_DIR or pass --dir")
    _sync(settings, directory, reload=not no_reload)


@click.command("broker-revoke")
@click.argument("store")
def broker_revoke(store: str) -> None:
    """Withdraw STORE's broker login and cut it off now (files rewritten, broker reloaded).

    The store gets a new login only by enrolling again.
    """
    from central.db import Database
    from central.services import broker_access
    from central.services.errors import ServiceError

    settings = _settings()
    if settings.broker_auth_dir is None:
        raise click.UsageError("set TESSERA_BROKER_AUTH_DIR (the broker's passwd and acl)")
    db = Database(settings.database_url)
    try:
        with db.transaction() as session:
            revoked = broker_access.revoke(session, store)
    except ServiceError as exc:
        raise click.ClickException(exc.message) from exc
    finally:
        db.dispose()
    click.echo(f"{store}: {'login revoked' if revoked else 'had no active login'}")
    _sync(settings, settings.broker_auth_dir, reload=True)
    try:
        broker_access.forget_state(settings.broker, store)
    except broker_access.BrokerAccessError as exc:
        click.echo(f"warning: its retained state stays on the broker: {exc}", err=True)
    else:
        click.echo(f"{store}: retained state cleared on the broker")


# Added to `tessera central` by tessera/cli.py.
COMMANDS = (broker_sync, broker_revoke)
