"""A technician enrols an outlet in one step, against a broker that admits only known logins.

The broker is configured as deployed (deploy/mosquitto): no anonymous clients, a store
listener that binds the client id to the username, central on a listener of its own, and the
password and ACL files written by central. Central creates the store, a technician asks for
a one-time code, the shop PC runs ``tessera agent enroll`` (a real subprocess), then
``tessera agent run`` with nothing but the written configuration, and sells.
"""

from __future__ import annotations

import os
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.harness import (
    ROOT,
    TESSERA,
    Agent,
    Network,
    RestartableBroker,
    ean13,
    expect,
)
from tests.support import free_port, wait_until

pytestmark = pytest.mark.e2e

CENTRAL_USER, CENTRAL_PASSWORD = "central", "central-e2e-secret"


class SecureBroker(RestartableBroker):
    def __init__(self, workdir: Path, auth_dir: Path) -> None:
        super().__init__(workdir)
        self.central_port = free_port()
        self.pid_file = workdir / f"mosquitto-{self.port}.pid"
        user = "user root\n" if os.geteuid() == 0 else ""  # keep the files' owner on reload
        self.config.write_text(
            "per_listener_settings false\n"
            f"listener {self.port} 127.0.0.1\nuse_username_as_clientid true\n"
            f"listener {self.central_port} 127.0.0.1\n"
            "allow_anonymous false\n"
            f"password_file {auth_dir / 'passwd'}\nacl_file {auth_dir / 'acl'}\n"
            f"pid_file {self.pid_file}\n{user}"
            "persistence false\nlog_dest stderr\nlog_type all\n")


@pytest.fixture
def secure(tmp_path: Path) -> Iterator[Network]:
    auth_dir = tmp_path / "broker-auth"
    auth_dir.mkdir()
    broker = SecureBroker(tmp_path, auth_dir)
    net = Network(tmp_path, broker)
    net.base_env.update(
        TESSERA_BROKER_URL=f"mqtt://127.0.0.1:{broker.central_port}",
        TESSERA_BROKER_USERNAME=CENTRAL_USER, TESSERA_BROKER_PASSWORD=CENTRAL_PASSWORD,
        TESSERA_BROKER_AUTH_DIR=str(auth_dir), TESSERA_BROKER_PID_FILE=str(broker.pid_file),
        TESSERA_BROKER_PUBLIC_URL=broker.url)
    try:
        net.create_database()
        tessera(["central", "broker-sync", "--no-reload"], net.central_env)
        broker.start()
        wait_until(broker.pid_file.exists, 10, what="the broker's pid file")
        yield net
    finally:
        try:
            net.close()
        finally:
            broker.kill()


def tessera(args: list[str], env: dict[str, str], expect_ok: bool = True,
            timeout: float = 120) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([*TESSERA, *args], env=env, cwd=ROOT, capture_output=True,
                            text=True, timeout=timeout)
    if expect_ok:
        assert result.returncode == 0, (f"tessera {' '.join(args)} failed:\n"
                                        f"{result.stdout}\n{result.stderr}")
    return result


def test_enrol_run_and_sell_with_nothing_but_the_one_time_code(secure: Network,
                                                               tmp_path: Path) -> None:
    net = secure
    net.start_central()
    net.create_category("food")
    barcode = ean13(4242)
    net.create_product("BREAD", barcode, "1.20", "food")
    expect(net.central.post("/api/v1/stores/", {"code": "kiosk-9", "name": "Kiosk 9"}), 201)
    net.central.authorize(net.create_token("tech", "technician"))
    code = expect(net.central.post("/api/v1/stores/kiosk-9/enrolment-codes", {}), 201)["code"]

    # The shop PC: a fresh directory, no TESSERA_* settings but where to keep its config.
    shop = tmp_path / "shop-pc"
    config = shop / "agent.env"
    base = {k: v for k, v in os.environ.items() if not k.startswith("TESSERA_")}
    pos_port = free_port()
    shop_env = dict(base, PYTHONUNBUFFERED="1", TESSERA_AGENT_CONFIG=str(config),
                    TESSERA_POS_LISTEN=f"127.0.0.1:{pos_port}", TESSERA_STALL_TIMEOUT="1")

    enrolled = tessera(["agent", "enroll", "--central", net.central.base, "--code", code,
                        "--timeout", "60"], shop_env)
    assert "enrolled as store kiosk-9" in enrolled.stdout
    assert "local copy complete" in enrolled.stdout
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    settings = dict(line.split("=", 1) for line in config.read_text().splitlines()
                    if line and not line.startswith("#"))
    assert settings["TESSERA_STORE_CODE"] == "kiosk-9"
    assert settings["TESSERA_BROKER_URL"] == net.broker.url  # the stores' listener
    assert settings["TESSERA_BROKER_USERNAME"] == "kiosk-9"
    assert settings["TESSERA_BROKER_PASSWORD"]

    # The code worked once; typed again (even with --force) it is refused, nothing changes.
    again = tessera(["agent", "enroll", "--central", net.central.base, "--code", code,
                     "--force"], shop_env, expect_ok=False)
    assert again.returncode != 0
    assert "already used" in again.stderr
    assert config.read_text().count("TESSERA_BROKER_PASSWORD") == 1
    refused = tessera(["agent", "enroll", "--central", net.central.base, "--code", code],
                      shop_env, expect_ok=False)
    assert "already holds an enrolment" in refused.stderr

    agent = Agent("kiosk-9", [*TESSERA, "agent", "run"], shop_env,
                  net.logs / "agent-kiosk-9.log", pos_port, Path(settings["TESSERA_AGENT_DB"]))
    net.procs[agent.name] = agent
    net.agents[agent.code] = agent
    agent.start()
    net.wait_agent_ready(agent)
    assert str(agent.price_of(barcode)) == "1.20"  # the bootstrapped copy, before any sale
    sale = expect(agent.sell([(barcode, "2")]), 201)
    net.wait(lambda: len(net.sales_at_central("kiosk-9")) == 1, 20, "the sale at central")
    assert net.sales_at_central("kiosk-9")[0]["uuid"] == sale["uuid"]

    doctor = tessera(["agent", "doctor"], shop_env, expect_ok=False)
    assert doctor.returncode == 0, doctor.stdout + doctor.stderr
    assert "[ok  ] broker login" in doctor.stdout
    assert "[ok  ] central reachable" in doctor.stdout
    assert "[FAIL]" not in doctor.stdout
    net.check()


def test_a_store_whose_login_is_revoked_is_cut_off(secure: Network, tmp_path: Path) -> None:
    net = secure
    net.start_central()
    expect(net.central.post("/api/v1/stores/", {"code": "kiosk-8", "name": "Kiosk 8"}), 201)
    # This time from head office's console.
    issued = tessera(["central", "enrolment-code", "kiosk-8", "--ttl-hours", "1"],
                     net.central_env)
    code = issued.stdout.strip()
    assert "works once" in issued.stderr and len(code) == 19
    config = tmp_path / "pc" / "agent.env"
    base = {k: v for k, v in os.environ.items() if not k.startswith("TESSERA_")}
    env = dict(base, TESSERA_AGENT_CONFIG=str(config),
               TESSERA_POS_LISTEN=f"127.0.0.1:{free_port()}")
    tessera(["agent", "enroll", "--central", net.central.base, "--code", code,
             "--timeout", "60"], env)
    assert "[ok  ] broker login" in tessera(["agent", "doctor"], env, expect_ok=False).stdout

    tessera(["central", "broker-revoke", "kiosk-8"], net.central_env)
    doctor = tessera(["agent", "doctor"], env, expect_ok=False)
    assert doctor.returncode == 1
    assert "[FAIL] broker login" in doctor.stdout
    assert "re-enroll" in doctor.stdout
