"""The agent's configuration file: written by enrolment (secrets 0600), read under the
environment, refused with the line number when malformed; and the doctor's verdicts."""

from __future__ import annotations

import datetime as dt
import stat
from pathlib import Path

import pytest

from store_agent import settings as settings_mod
from store_agent.cli import doctor, enrolment

RESULT = {"store": {"code": "kiosk-6"},
          "broker": {"url": "mqtt://broker.example.net:1883", "username": "kiosk-6",
                     "password": "s3cret-pass"},
          "central_url": None, "streams": {"catalog": 3}}


def test_enrolment_writes_a_config_that_the_settings_read(tmp_path: Path) -> None:
    config = tmp_path / "etc" / "agent.env"
    env = {"TESSERA_AGENT_CONFIG": str(config)}
    path, database = settings_mod.enrolment_paths("kiosk-6", env)
    assert path == config.resolve()
    assert database == (config.parent / "agent-kiosk-6.db").resolve()
    enrolment.write_config(path, enrolment.config_lines(RESULT, "https://central.example.net",
                                                        database))
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    loaded = settings_mod.load(env)
    assert loaded.store == "kiosk-6"
    assert (loaded.broker.host, loaded.broker.port) == ("broker.example.net", 1883)
    assert (loaded.broker.username, loaded.broker.password) == ("kiosk-6", "s3cret-pass")
    assert loaded.central_url == "https://central.example.net"
    assert loaded.database == database
    # The environment wins over the file (site overrides).
    assert settings_mod.load({**env, "TESSERA_STORE_CODE": "other"}).store == "other"


def test_an_explicit_database_wins(tmp_path: Path) -> None:
    env = {"TESSERA_AGENT_CONFIG": str(tmp_path / "a.env"),
           "TESSERA_AGENT_DB": str(tmp_path / "db" / "x.db")}
    assert settings_mod.enrolment_paths("kiosk-6", env)[1] == (tmp_path / "db" / "x.db")


def test_a_malformed_config_names_its_line(tmp_path: Path) -> None:
    config = tmp_path / "agent.env"
    config.write_text("# comment\nTESSERA_STORE_CODE=kiosk-6\nnonsense here\n")
    with pytest.raises(settings_mod.SettingsError, match=r"agent.env:3"):
        settings_mod.load({"TESSERA_AGENT_CONFIG": str(config)})
    config.write_text("PATH=/tmp\n")
    with pytest.raises(settings_mod.SettingsError, match=r"agent.env:1"):
        settings_mod.load({"TESSERA_AGENT_CONFIG": str(config)})


def test_central_cannot_smuggle_lines_into_the_config() -> None:
    evil = {**RESULT, "broker": {**RESULT["broker"], "password": "x\nTESSERA_AGENT_DB=/etc"}}
    with pytest.raises(enrolment.EnrolmentError, match="TESSERA_BROKER_PASSWORD"):
        enrolment.config_lines(evil, "https://c", Path("/tmp/x.db"))


def test_waiting_for_the_copy_reports_progress_and_gives_up() -> None:
    seen: list[int] = []
    versions = iter([{}, {"catalog": 1}, {"catalog": 3, "policies": 1}])
    assert enrolment.wait_bootstrapped({"catalog": 3, "policies": 1}, lambda: next(versions),
                                       seen.append, timeout=5, step=0)
    assert seen == [0, 1, 4]
    assert not enrolment.wait_bootstrapped({"catalog": 3}, dict, seen.append, timeout=0,
                                           step=0)


def test_doctor_without_a_running_agent_or_central(tmp_path: Path) -> None:
    settings = settings_mod.load({"TESSERA_STORE_CODE": "kiosk-6",
                                  "TESSERA_AGENT_CONFIG": str(tmp_path / "none.env"),
                                  "TESSERA_AGENT_DB": str(tmp_path / "agent.db"),
                                  "TESSERA_BROKER_URL": "mqtt://127.0.0.1:9",
                                  "TESSERA_POS_LISTEN": "127.0.0.1:9"})
    findings = {f.check: f for f in doctor.run_checks(
        settings, now=lambda: dt.datetime.now(dt.UTC))}
    assert findings["database"].level == "warn"
    assert findings["agent running"].level == "warn"
    assert findings["broker reachable"].level == "fail"
    assert "TESSERA_BROKER_URL" in findings["broker reachable"].fix
    assert findings["central"].level == "warn"


def test_printer_urls(tmp_path: Path) -> None:
    def load(url: str) -> settings_mod.PrinterSettings | None:
        return settings_mod.load_printer({"TESSERA_PRINTER_URL": url,
                                          "TESSERA_AGENT_CONFIG": str(tmp_path / "x.env")})

    journal = load(f"journal://{tmp_path}/fiscal.jsonl?vat=A:22,B:10,C:4")
    assert journal is not None and journal.driver == "journal"
    assert journal.address == str(tmp_path / "fiscal.jsonl")
    assert journal.vat_rates == (("A", "22"), ("B", "10"), ("C", "4"))
    assert load(f"journal://{tmp_path}/j.jsonl").vat_rates[0] == ("A", "19")  # type: ignore[union-attr]
    rt = load("rt+http://192.168.1.50:8080?tz=Europe/Rome")
    assert rt is not None and (rt.driver, rt.address) == ("rt", "http://192.168.1.50:8080")
    datecs = load("datecs+tcp://10.0.0.7:4999")
    assert datecs is not None and datecs.address == "10.0.0.7:4999"
    # The agent's own settings carry the same (the runtime and doctor read them there).
    assert settings_mod.load({"TESSERA_STORE_CODE": "kiosk-1",
                              "TESSERA_PRINTER_URL": "datecs+tcp://10.0.0.7:4999",
                              "TESSERA_AGENT_CONFIG": str(tmp_path / "x.env")}).printer == datecs
    assert load("") is None
    for bad in ("journal:///x?vat=Z:10", "journal:///x?vat=A:abc", "rt+http://",
                "epson://x", "journal:///x?speed=1"):
        with pytest.raises(settings_mod.SettingsError, match="TESSERA_PRINTER_URL"):
            load(bad)


def _enrol(tmp_path: Path) -> dict[str, str]:
    config = tmp_path / "var" / "agent.env"
    _, database = settings_mod.enrolment_paths("kiosk-6", {"TESSERA_AGENT_CONFIG": str(config)})
    enrolment.write_config(config, enrolment.config_lines(RESULT, "https://central.example.net",
                                                          database))
    return {"TESSERA_AGENT_CONFIG": str(config)}


def test_site_overrides_apply_to_every_command_and_override_only_what_they_set(
        tmp_path: Path) -> None:
    env = _enrol(tmp_path)
    site = tmp_path / "etc" / "agent.env"
    site.parent.mkdir()
    site.write_text("# the shop LAN\nTESSERA_POS_LISTEN=192.168.1.10:8111\n"
                    "TESSERA_BROKER_KEEPALIVE=45\n")
    env["TESSERA_SITE_CONFIG"] = str(site)
    loaded = settings_mod.load(env)
    assert (loaded.pos_host, loaded.pos_port) == ("192.168.1.10", 8111)
    assert loaded.broker.keepalive == 45
    assert (loaded.store, loaded.broker.password) == ("kiosk-6", "s3cret-pass")
    # The printer commands read the same layers.
    site.write_text("TESSERA_PRINTER_URL=journal:///tmp/fiscal.jsonl\n")
    printer = settings_mod.load_printer(env)
    assert printer is not None and printer.driver == "journal"
    # Enrolment finds where to write through the site file too.
    site.write_text(f"TESSERA_VAR_DIR={tmp_path / 'elsewhere'}\n")
    path, _ = settings_mod.enrolment_paths("kiosk-6", {"TESSERA_SITE_CONFIG": str(site)})
    assert path == (tmp_path / "elsewhere" / "agent.env").resolve()


def test_the_example_file_copied_as_site_overrides_keeps_the_enrolment(tmp_path: Path) -> None:
    env = _enrol(tmp_path)
    example = Path(__file__).parents[2] / "deploy" / "env" / "agent.env.example"
    env["TESSERA_SITE_CONFIG"] = str(example)
    loaded = settings_mod.load(env)
    assert loaded.store == "kiosk-6"
    assert (loaded.broker.host, loaded.broker.username, loaded.broker.password) == (
        "broker.example.net", "kiosk-6", "s3cret-pass")
    assert settings_mod.read_config(example).keys().isdisjoint(settings_mod.ENROLLED_KEYS)


def test_a_site_file_that_contradicts_the_enrolment_is_refused(tmp_path: Path) -> None:
    env = _enrol(tmp_path)
    site = tmp_path / "site.env"
    site.write_text("TESSERA_STORE_CODE=kiosk-1\nTESSERA_BROKER_PASSWORD=CHANGE-ME\n")
    with pytest.raises(settings_mod.SettingsError, match="TESSERA_STORE_CODE.*contradicts"):
        settings_mod.load({**env, "TESSERA_SITE_CONFIG": str(site)})
    # Repeating the enrolled value is harmless.
    site.write_text("TESSERA_STORE_CODE=kiosk-6\n")
    assert settings_mod.load({**env, "TESSERA_SITE_CONFIG": str(site)}).store == "kiosk-6"


def test_no_enrolment_says_where_it_looked(tmp_path: Path) -> None:
    with pytest.raises(settings_mod.SettingsError) as raised:
        settings_mod.load({"TESSERA_VAR_DIR": str(tmp_path), "TESSERA_SITE_CONFIG": ""})
    assert str(tmp_path / "agent.env") in str(raised.value)
    assert "tessera agent enroll" in str(raised.value)


def _settings(tmp_path: Path, store: str = "kiosk-6") -> settings_mod.AgentSettings:
    return settings_mod.load({"TESSERA_STORE_CODE": store,
                              "TESSERA_AGENT_CONFIG": str(tmp_path / "none.env"),
                              "TESSERA_AGENT_DB": str(tmp_path / "agent.db"),
                              "TESSERA_POS_LISTEN": "0.0.0.0:8123"})


def test_doctor_checks_which_store_answers_on_the_pos_port(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    status = {"store": "market", "broker_connected": True, "central_online": True}
    [finding] = doctor.check_running(settings, status)
    assert finding.level == "fail"
    assert "'market'" in finding.detail and "127.0.0.1:8123" in finding.detail
    assert "TESSERA_POS_LISTEN" in finding.fix
    assert doctor.own_agent(settings, status) is None  # not proof of this store's login
    none = doctor.check_running(settings, None)
    assert "127.0.0.1:8123" in none[0].detail


def test_doctor_fails_a_disconnected_agent_and_its_lag(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    found = {f.check: f for f in doctor.check_running(
        settings, {"store": "kiosk-6", "broker_connected": False, "central_online": True,
                   "outbox_pending": 3})}
    assert found["agent's broker session"].level == "fail"
    assert "restart" in found["agent's broker session"].fix
    assert found["sync lag"].level == "warn"


@pytest.mark.parametrize(("status", "body", "expected"), [
    (403, b'{"message": "this enrolment code is unknown, already used or expired"}',
     "central refused the code: this enrolment code is unknown"),
    (401, b'{"message": "authentication required"}', "does not look like head office"),
    (404, b'{"message": "no such page"}', "does not look like head office"),
    (404, b"<html>Not Found</html>", "does not look like head office"),
    (503, b'{"message": "set TESSERA_BROKER_PUBLIC_URL"}', "could not enrol this store"),
])
def test_an_enrolment_refusal_says_what_went_wrong(status: int, body: bytes,
                                                  expected: str) -> None:
    message = str(enrolment.refusal(status, body, "http://x"))
    assert expected in message
    if "head office" in expected:
        assert "refused the code" not in message


def test_the_central_url_may_carry_the_api_prefix_or_a_slash() -> None:
    for typed in ("http://c:8000", "http://c:8000/", "http://c:8000/api/v1",
                  "http://c:8000/api/v1/"):
        assert enrolment.central_base(typed) == "http://c:8000"
