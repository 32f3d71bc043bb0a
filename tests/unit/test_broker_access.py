"""Broker access without a broker: hashes, rendered files, atomic writes, reload, settings.

The files working with a real Mosquitto is tests/integration/test_broker_security.py.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from central import settings as settings_mod
from central.db import Database
from central.models import StoreStatus
from central.services import broker_access, stores
from central.services.errors import Conflict
from store_agent import settings as agent_settings
from tests.support import free_port

ROOT = Path(__file__).resolve().parents[2]
SERVICES = {"central": "central-secret"}


def entries(passwd: str) -> dict[str, str]:
    return dict(line.split(":", 1) for line in passwd.splitlines()
                if line and not line.startswith("#"))


# --- hashes -----------------------------------------------------------------------------------

def test_a_hash_has_mosquittos_format_and_verifies() -> None:
    encoded = broker_access.hash_password("s3cret")
    kind, iterations, salt, digest = encoded.split("$")[1:]
    assert (kind, iterations, len(salt), len(digest)) == ("7", "101", 16, 88)
    assert broker_access.verify_password("s3cret", encoded)
    assert not broker_access.verify_password("s3cret!", encoded)
    assert not broker_access.verify_password("s3cret", "$6$abc$def")
    assert not broker_access.verify_password("s3cret", "garbage")


@pytest.mark.skipif(shutil.which("mosquitto_passwd") is None, reason="needs mosquitto_passwd")
def test_hashes_match_what_mosquitto_passwd_writes(tmp_path: Path) -> None:
    path = tmp_path / "passwd"
    path.touch()
    subprocess.run(["mosquitto_passwd", "-b", str(path), "alice", "pa55:word"], check=True)
    theirs = entries(path.read_text())["alice"]
    assert broker_access.verify_password("pa55:word", theirs)
    _, _, iterations, salt, _ = theirs.split("$")
    import base64

    ours = broker_access.hash_password("pa55:word", iterations=int(iterations),
                                       salt=base64.b64decode(salt))
    assert ours == theirs


# --- the ACL ----------------------------------------------------------------------------------

def test_the_deployed_acl_template_is_the_generated_one() -> None:
    text = (ROOT / "deploy/mosquitto/acl.template").read_text()
    assert text == broker_access.acl_template(), (
        "regenerate it: python -c 'from central.services.broker_access import acl_template; "
        "print(acl_template(), end=\"\")' > deploy/mosquitto/acl.template")


def test_the_acl_gives_stores_their_own_subtree_and_central_everything() -> None:
    rules = [line for line in broker_access.acl_text(["central", "ops"]).splitlines()
             if line and not line.startswith("#")]
    assert rules == [
        "pattern write tessera/v1/stores/%u/up",
        "pattern write tessera/v1/stores/%u/state",
        "pattern write tessera/v1/stores/%u/rpc",
        "pattern write tessera/v1/stores/%u/cmd/res",
        "pattern read tessera/v1/stores/%u/up/ack",
        "pattern read tessera/v1/stores/%u/down",
        "pattern read tessera/v1/stores/%u/cmd",
        "pattern read tessera/v1/stores/%u/rpc/res",
        "pattern read tessera/v1/bucket/+/down",
        "pattern read tessera/v1/central/state",
        "user central", "topic readwrite tessera/v1/#", "topic read $SYS/#",
        "user ops", "topic readwrite tessera/v1/#", "topic read $SYS/#",
    ]


# --- credentials and rendering ----------------------------------------------------------------

@pytest.fixture
def db(sqlite_db: Database) -> Iterator[Database]:
    with sqlite_db.transaction() as session:
        for code in ("kiosk-a", "kiosk-b", "kiosk-c", "closed"):
            stores.create_store(session, code, code.title())
    yield sqlite_db


def test_render_lists_active_unrevoked_stores_and_the_service_account(db: Database) -> None:
    with db.transaction() as session:
        passwords = {code: broker_access.issue(session, code)
                     for code in ("kiosk-a", "kiosk-b", "kiosk-c", "closed")}
        assert broker_access.revoke(session, "kiosk-c")
        stores.update_store(session, "closed", {"active": False})
    with db.sessions() as session:
        passwd, acl = broker_access.render(session, SERVICES)
    found = entries(passwd)
    assert sorted(found) == ["central", "kiosk-a", "kiosk-b"]
    assert broker_access.verify_password(passwords["kiosk-a"], found["kiosk-a"])
    assert broker_access.verify_password("central-secret", found["central"])
    assert "user central\n" in acl and passwd.startswith("# Generated")
    assert all(password not in passwd for password in passwords.values())


def test_issue_replaces_the_password_and_lifts_a_revocation(db: Database) -> None:
    with db.transaction() as session:
        first = broker_access.issue(session, "kiosk-a")
        broker_access.revoke(session, "kiosk-a")
        second = broker_access.issue(session, "kiosk-a")
        passwd, _ = broker_access.render(session, SERVICES)
    assert first != second and len(second) >= 43
    assert broker_access.verify_password(second, entries(passwd)["kiosk-a"])
    assert not broker_access.verify_password(first, entries(passwd)["kiosk-a"])


def test_issue_refuses_deactivated_stores_and_reserved_names(db: Database) -> None:
    with db.transaction() as session:
        stores.update_store(session, "closed", {"active": False})
        stores.create_store(session, "central", "Not a store login")
        stores.create_store(session, "tessera-central-publisher", "Would steal a client id")
    for code in ("closed", "central", "tessera-central-publisher"):
        with pytest.raises(Conflict), db.transaction() as session:
            broker_access.issue(session, code)


def test_revoke_marks_the_store_offline(db: Database) -> None:
    with db.transaction() as session:
        broker_access.issue(session, "kiosk-a")
        store = stores.get_store(session, "kiosk-a")
        session.add(StoreStatus(store_id=store.id, online=True, session=3))
    with db.transaction() as session:
        assert broker_access.revoke(session, "kiosk-a")
        assert not broker_access.revoke(session, "kiosk-a")
        assert not broker_access.revoke(session, "kiosk-b")  # never had a login
    with db.sessions() as session:
        assert not session.get(StoreStatus, store.id).online  # type: ignore[union-attr]


def test_an_unchanged_database_renders_unchanged_files(db: Database) -> None:
    with db.transaction() as session:
        broker_access.issue(session, "kiosk-a")
    with db.sessions() as session:
        first, _ = broker_access.render(session, SERVICES)
        again, _ = broker_access.render(session, SERVICES, previous_passwd=first)
        changed, _ = broker_access.render(session, {"central": "rotated"}, previous_passwd=first)
    assert again == first
    assert entries(changed)["central"] != entries(first)["central"]


# --- writing the files ------------------------------------------------------------------------

def test_write_files_is_atomic_private_and_idempotent(db: Database, tmp_path: Path) -> None:
    directory = tmp_path / "auth"
    with db.transaction() as session:
        broker_access.issue(session, "kiosk-a")
    with db.sessions() as session:
        assert broker_access.write_files(session, directory, SERVICES)
        assert not broker_access.write_files(session, directory, SERVICES)
    assert (directory / "passwd").stat().st_mode & 0o777 == 0o600
    assert (directory / "acl").stat().st_mode & 0o777 == 0o644
    assert sorted(p.name for p in directory.iterdir()) == [".broker-files.lock", "acl",
                                                           "passwd"]
    with db.transaction() as session:
        broker_access.revoke(session, "kiosk-a")
    with db.sessions() as session:
        assert broker_access.write_files(session, directory, SERVICES)
    assert "kiosk-a" not in entries((directory / "passwd").read_text())


def test_a_rewritten_file_keeps_the_mode_and_group_the_broker_reads_it_with(
        db: Database, tmp_path: Path) -> None:
    directory = tmp_path / "auth"
    directory.mkdir()
    passwd = directory / "passwd"
    passwd.write_text("old:entry\n")
    if os.geteuid() == 0:  # as root: the owner is kept too (e.g. sudo broker-sync)
        owner, group = 4242, 4243
    else:  # as a member of the broker's group
        owner = os.geteuid()
        group = next((g for g in os.getgroups() if g != os.getegid()), os.getegid())
    os.chown(passwd, owner, group)
    os.chmod(passwd, 0o640)
    with db.sessions() as session:
        assert broker_access.write_files(session, directory, SERVICES)
    stat = passwd.stat()
    assert (stat.st_mode & 0o777, stat.st_uid, stat.st_gid) == (0o640, owner, group)
    assert "old:entry" not in passwd.read_text()


# --- reloading --------------------------------------------------------------------------------

def central_settings(tmp_path: Path, **env: str) -> settings_mod.CentralSettings:
    return settings_mod.load({"TESSERA_VAR_DIR": str(tmp_path),
                              "TESSERA_BROKER_USERNAME": "central",
                              "TESSERA_BROKER_PASSWORD": "central-secret", **env})


def test_settings_name_the_files_and_the_reload(tmp_path: Path) -> None:
    plain = central_settings(tmp_path)
    assert (plain.broker_auth_dir, plain.broker_pid_file, plain.broker_reload_command) == (
        None, None, None)
    set_ = central_settings(tmp_path, TESSERA_BROKER_AUTH_DIR=str(tmp_path / "auth"),
                            TESSERA_BROKER_PID_FILE=str(tmp_path / "m.pid"),
                            TESSERA_BROKER_RELOAD_COMMAND="systemctl reload mosquitto")
    assert set_.broker_auth_dir == tmp_path / "auth"
    assert set_.broker_pid_file == tmp_path / "m.pid"
    assert set_.broker_reload_command == "systemctl reload mosquitto"


def test_reload_refuses_a_pid_that_is_not_mosquitto(tmp_path: Path) -> None:
    pid_file = tmp_path / "m.pid"
    pid_file.write_text(f"{os.getpid()}\n")
    hups: list[int] = []
    previous = signal.signal(signal.SIGHUP, lambda signum, _frame: hups.append(signum))
    try:
        with pytest.raises(broker_access.BrokerAccessError, match="not mosquitto"):
            broker_access.reload_broker(central_settings(
                tmp_path, TESSERA_BROKER_PID_FILE=str(pid_file)))
    finally:
        signal.signal(signal.SIGHUP, previous)
    assert hups == []
    with pytest.raises(broker_access.BrokerAccessError, match="no broker pid"):
        broker_access.reload_broker(central_settings(
            tmp_path, TESSERA_BROKER_PID_FILE=str(tmp_path / "missing.pid")))


def test_reload_runs_the_command_and_reports_its_failure(tmp_path: Path) -> None:
    done = broker_access.reload_broker(central_settings(
        tmp_path, TESSERA_BROKER_RELOAD_COMMAND="true"))
    assert done == "ran 'true'"
    with pytest.raises(broker_access.BrokerAccessError, match="exited 1"):
        broker_access.reload_broker(central_settings(
            tmp_path, TESSERA_BROKER_RELOAD_COMMAND="false"))
    with pytest.raises(broker_access.BrokerAccessError, match="TESSERA_BROKER_PID_FILE"):
        broker_access.reload_broker(central_settings(tmp_path))


def test_sync_is_off_without_an_auth_dir_and_needs_centrals_login(db: Database,
                                                                  tmp_path: Path) -> None:
    with db.sessions() as session:
        assert broker_access.sync(session, central_settings(tmp_path)) is None
        anonymous = settings_mod.load({"TESSERA_VAR_DIR": str(tmp_path),
                                       "TESSERA_BROKER_AUTH_DIR": str(tmp_path / "auth")})
        with pytest.raises(broker_access.BrokerAccessError, match="lock itself out"):
            broker_access.sync(session, anonymous)
        done = broker_access.sync(session, central_settings(
            tmp_path, TESSERA_BROKER_AUTH_DIR=str(tmp_path / "auth"),
            TESSERA_BROKER_RELOAD_COMMAND="true"))
        assert done == "ran 'true'"
        assert broker_access.sync(session, central_settings(
            tmp_path, TESSERA_BROKER_AUTH_DIR=str(tmp_path / "auth"),
            TESSERA_BROKER_RELOAD_COMMAND="false")) == "broker files unchanged"


# --- the agent's CA file ----------------------------------------------------------------------

def test_the_agent_takes_a_private_ca_for_the_broker(tmp_path: Path) -> None:
    base = {"TESSERA_STORE_CODE": "kiosk-a", "TESSERA_VAR_DIR": str(tmp_path),
            "TESSERA_AGENT_CONFIG": str(tmp_path / "none.env"),
            "TESSERA_BROKER_URL": "mqtts://broker.example.net"}
    assert agent_settings.load(base).broker.ca_file is None
    ca = tmp_path / "ca.crt"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    loaded = agent_settings.load({**base, "TESSERA_BROKER_CA_FILE": str(ca)})
    assert (loaded.broker.ca_file, loaded.broker.tls, loaded.broker.port) == (str(ca), True,
                                                                              8883)
    with pytest.raises(agent_settings.SettingsError, match="TESSERA_BROKER_CA_FILE"):
        agent_settings.load({**base, "TESSERA_BROKER_CA_FILE": str(tmp_path / "nope")})


# --- the operator commands --------------------------------------------------------------------

def test_broker_sync_and_revoke_commands(db: Database, tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from tessera.cli import main

    with db.transaction() as session:
        broker_access.issue(session, "kiosk-a")
    auth = tmp_path / "auth"
    env = {"TESSERA_DATABASE_URL": db.url, "TESSERA_VAR_DIR": str(tmp_path),
           "TESSERA_BROKER_URL": f"mqtt://127.0.0.1:{free_port()}",
           "TESSERA_BROKER_USERNAME": "central", "TESSERA_BROKER_PASSWORD": "central-secret",
           "TESSERA_BROKER_RELOAD_COMMAND": "true"}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    runner = CliRunner()

    result = runner.invoke(main, ["central", "broker-sync"])
    assert result.exit_code == 2 and "TESSERA_BROKER_AUTH_DIR" in result.output

    result = runner.invoke(main, ["central", "broker-sync", "--dir", str(auth)])
    assert result.exit_code == 0, result.output
    assert "1 store logins + central; files rewritten" in result.output
    assert "ran 'true'" in result.output
    assert "kiosk-a" in entries((auth / "passwd").read_text())

    monkeypatch.setenv("TESSERA_BROKER_AUTH_DIR", str(auth))
    result = runner.invoke(main, ["central", "broker-revoke", "kiosk-a"])
    assert result.exit_code == 0, result.output
    assert "kiosk-a: login revoked" in result.output
    assert "retained state stays on the broker" in result.output  # no broker here
    assert "kiosk-a" not in entries((auth / "passwd").read_text())

    result = runner.invoke(main, ["central", "broker-revoke", "nowhere"])
    assert result.exit_code == 1 and "no store 'nowhere'" in result.output
