"""The agent's configuration file: written by enrolment (secrets 0600), read under the
environment, refused with the line number when malformed; and the doctor's verdicts."""

from __future__ import annotations

import datetime as dt
import stat
from pathlib import Path

import pytest

from store_agent import doctor, enrolment
from store_agent import settings as settings_mod

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
