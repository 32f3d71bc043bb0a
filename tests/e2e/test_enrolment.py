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


def shop_pc(root: Path, **site: str) -> tuple[dict[str, str], Path, Path]:
    """A fresh shop PC: no TESSERA_* settings in the environment but where its files are;
    the site overrides in its own /etc/tessera/agent.env (the example file, plus ``site``)."""
    root.mkdir(parents=True)
    site_file = root / "etc-tessera-agent.env"
    example = (ROOT / "deploy" / "env" / "agent.env.example").read_text()
    site_file.write_text(example + "".join(f"{k}={v}\n" for k, v in site.items()))
    base = {k: v for k, v in os.environ.items() if not k.startswith("TESSERA_")}
    env = dict(base, PYTHONUNBUFFERED="1", TESSERA_VAR_DIR=str(root / "var"),
               TESSERA_SITE_CONFIG=str(site_file))
    return env, root / "var" / "agent.env", site_file


def set_site(site_file: Path, **values: str) -> None:
    lines = [line for line in site_file.read_text().splitlines()
             if line.partition("=")[0] not in values]
    site_file.write_text("\n".join([*lines, *(f"{k}={v}" for k, v in values.items())]) + "\n")


def read_env(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().splitlines()
                if line and not line.startswith("#"))


def new_code(net: Network, store: str) -> str:
    code: str = expect(net.central.post(f"/api/v1/stores/{store}/enrolment-codes", {}),
                       201)["code"]
    return code


def shop_agent(net: Network, code: str, env: dict[str, str], port: int,
               config: Path) -> Agent:
    agent = Agent(code, [*TESSERA, "agent", "run"], env, net.logs / f"agent-{code}.log",
                  port, Path(read_env(config)["TESSERA_AGENT_DB"]))
    net.procs[agent.name] = agent
    net.agents[agent.code] = agent
    return agent


def no_traceback(result: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in result.stdout + result.stderr, result.stdout + result.stderr


def test_enrol_run_and_sell_with_nothing_but_the_one_time_code(secure: Network,
                                                               tmp_path: Path) -> None:
    net = secure
    net.start_central()
    net.create_category("food")
    barcode = ean13(4242)
    net.create_product("BREAD", barcode, "1.20", "food")
    for store in ("kiosk-9", "kiosk-10"):
        expect(net.central.post("/api/v1/stores/", {"code": store, "name": store}), 201)
    net.central.authorize(net.create_token("tech", "technician"))

    # Another store's PC runs on this machine already, on the port kiosk-9 will be given.
    taken = free_port()
    other_env, other_config, _ = shop_pc(tmp_path / "other-pc",
                                         TESSERA_POS_LISTEN=f"127.0.0.1:{taken}")
    tessera(["agent", "enroll", "--central", net.central.base, "--code",
             new_code(net, "kiosk-10"), "--timeout", "60"], other_env)
    other = shop_agent(net, "kiosk-10", other_env, taken, other_config)
    other.start()
    net.wait_agent_ready(other)

    # The shop PC; its POS address comes from the site file only (as the guide says).
    shop_env, config, site = shop_pc(tmp_path / "shop-pc", TESSERA_POS_LISTEN=f"127.0.0.1:{taken}",
                                     TESSERA_STALL_TIMEOUT="1")
    code = new_code(net, "kiosk-9")
    # Wrong addresses are called wrong addresses, and the code is not spent on them.
    wrong = tessera(["agent", "enroll", "--central", other.url, "--code", code], shop_env,
                    expect_ok=False)
    assert wrong.returncode == 1 and "does not look like head office" in wrong.stderr
    assert "refused the code" not in wrong.stderr
    mistyped = tessera(["agent", "enroll", "--central", net.central.base, "--code",
                        "7K2M-Q9XD-" + "X" * 40], shop_env, expect_ok=False)
    assert "unknown, already used or expired" in mistyped.stderr
    no_traceback(mistyped)
    assert not config.exists()

    # The URL the demo banner labels "central" (with /api/v1/) is accepted.
    enrolled = tessera(["agent", "enroll", "--central", net.central.base + "/api/v1/",
                        "--code", code, "--timeout", "60"], shop_env)
    assert "enrolled as store kiosk-9" in enrolled.stdout
    assert "local copy complete" in enrolled.stdout
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    settings = read_env(config)
    assert settings["TESSERA_STORE_CODE"] == "kiosk-9"
    assert settings["TESSERA_BROKER_URL"] == net.broker.url  # the stores' listener
    assert settings["TESSERA_BROKER_USERNAME"] == "kiosk-9"
    assert settings["TESSERA_BROKER_PASSWORD"]
    assert settings["TESSERA_CENTRAL_URL"] == net.central.base
    database = Path(settings["TESSERA_AGENT_DB"])
    assert stat.S_IMODE(database.stat().st_mode) == 0o600

    # The code worked once; typed again (even with --force) it is refused, nothing changes.
    again = tessera(["agent", "enroll", "--central", net.central.base, "--code", code,
                     "--force"], shop_env, expect_ok=False)
    assert again.returncode != 0
    assert "already used" in again.stderr
    assert config.read_text().count("TESSERA_BROKER_PASSWORD") == 1
    refused = tessera(["agent", "enroll", "--central", net.central.base, "--code", code],
                      shop_env, expect_ok=False)
    assert "already holds an enrolment" in refused.stderr

    # Doctor looks where the site file says, and sees that kiosk-10 answers there.
    doctor = tessera(["agent", "doctor"], shop_env, expect_ok=False)
    assert doctor.returncode == 1, doctor.stdout
    assert f"[FAIL] agent running: the agent answering on 127.0.0.1:{taken} is store " \
        "'kiosk-10', not 'kiosk-9'" in doctor.stdout
    assert "the running agent is connected" not in doctor.stdout
    # kiosk-9's agent is not running: the doctor asks central over MQTT on a connection of
    # its own.
    assert "[ok  ] central over MQTT" in doctor.stdout
    assert "[ok  ] clock (over MQTT)" in doctor.stdout
    # `run` on the busy port stops at once with the address and the setting, before it
    # connects to the broker.
    logins = net.broker.log.read_text().count(" as kiosk-9 ")
    busy = tessera(["agent", "run"], shop_env, expect_ok=False, timeout=60)
    assert busy.returncode == 1
    assert f"127.0.0.1:{taken}" in busy.stderr and "TESSERA_POS_LISTEN" in busy.stderr
    no_traceback(busy)
    assert net.broker.log.read_text().count(" as kiosk-9 ") == logins

    pos_port = free_port()
    set_site(site, TESSERA_POS_LISTEN=f"127.0.0.1:{pos_port}")
    agent = shop_agent(net, "kiosk-9", shop_env, pos_port, config)
    agent.start()
    net.wait_agent_ready(agent)
    assert str(agent.price_of(barcode)) == "1.20"  # the bootstrapped copy, before any sale
    sale = expect(agent.sell([(barcode, "2")]), 201)
    net.wait(lambda: len(net.sales_at_central("kiosk-9")) == 1, 20, "the sale at central")
    assert net.sales_at_central("kiosk-9")[0]["uuid"] == sale["uuid"]

    doctor = tessera(["agent", "doctor"], shop_env, expect_ok=False)
    assert doctor.returncode == 0, doctor.stdout + doctor.stderr
    assert f"[ok  ] agent running: store kiosk-9 on 127.0.0.1:{pos_port}" in doctor.stdout
    assert "[ok  ] broker login" in doctor.stdout
    assert "[ok  ] central reachable" in doctor.stdout
    # ... and through the running agent's own connection (a second login would replace it).
    assert "[ok  ] central over MQTT" in doctor.stdout
    assert "[FAIL]" not in doctor.stdout

    # Re-enrolment while the agent runs: enroll says to restart it; until then doctor fails.
    forced = tessera(["agent", "enroll", "--central", net.central.base, "--code",
                      new_code(net, "kiosk-9"), "--force", "--timeout", "60"], shop_env)
    assert "still has the old broker password" in forced.stderr
    assert "restart" in forced.stderr
    net.wait(lambda: not agent.status()["broker_connected"], 20, "the old session cut off")
    assert agent.status()["central_online"] is False
    doctor = tessera(["agent", "doctor"], shop_env, expect_ok=False)
    assert doctor.returncode == 1, doctor.stdout
    assert "[FAIL] agent's broker session: not connected" in doctor.stdout
    assert "[ok  ] sync lag" not in doctor.stdout
    agent.stop()
    net.restart_agent(agent)
    late = expect(agent.sell([(barcode, "1")]), 201)
    net.wait(lambda: len(net.sales_at_central("kiosk-9")) == 2, 20, "the second sale")
    assert {s["uuid"] for s in net.sales_at_central("kiosk-9")} == {sale["uuid"], late["uuid"]}
    assert tessera(["agent", "doctor"], shop_env, expect_ok=False).returncode == 0
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
    port = free_port()
    env, config, _ = shop_pc(tmp_path / "pc", TESSERA_POS_LISTEN=f"127.0.0.1:{port}")
    tessera(["agent", "enroll", "--central", net.central.base, "--code", code,
             "--timeout", "60"], env)
    assert "[ok  ] broker login" in tessera(["agent", "doctor"], env, expect_ok=False).stdout
    agent = shop_agent(net, "kiosk-8", env, port, config)
    agent.start()
    net.wait_agent_ready(agent)
    net.wait(lambda: agent.status()["central_online"], 20, "central online for the store")

    tessera(["central", "broker-revoke", "kiosk-8"], net.central_env)
    net.wait(lambda: not agent.status()["broker_connected"], 20, "the store cut off")
    assert agent.status()["central_online"] is False
    doctor = tessera(["agent", "doctor"], env, expect_ok=False)
    assert doctor.returncode == 1
    assert "[FAIL] agent's broker session" in doctor.stdout
    assert "[FAIL] broker login" in doctor.stdout
    assert "re-enroll" in doctor.stdout
    net.check()


def test_console_commands_without_database_settings_say_which_settings(
        tmp_path: Path) -> None:
    base = {k: v for k, v in os.environ.items() if not k.startswith("TESSERA_")}
    env = dict(base, TESSERA_VAR_DIR=str(tmp_path / "nowhere"))
    result = tessera(["central", "enrolment-code", "kiosk-1"], env, expect_ok=False)
    assert result.returncode == 1
    no_traceback(result)
    assert "TESSERA_DATABASE_URL" in result.stderr
    assert "/etc/tessera/central.env" in result.stderr
