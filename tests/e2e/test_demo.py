"""`tessera demo` as a newcomer plays with it: one part stopped and started again from a
second terminal while the tills keep selling; the walkthrough's partner-card basket; and,
with ``--secure``, a technician rehearsing enrolment, doctor and revocation by the guide."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from tessera import demo_data
from tests.e2e.harness import ROOT, TESSERA, expect
from tests.support import free_port, free_ports, wait_until

pytestmark = pytest.mark.e2e

BREAD, CIGARETTES = "SKU-0001", "SKU-0022"
UNION_CARD = "9640000012345"


@dataclass
class Demo:
    root: Path
    base: int
    env: dict[str, str]
    proc: subprocess.Popen[bytes]

    @property
    def central(self) -> str:
        return f"http://127.0.0.1:{self.base + 2}"

    def till(self, store: str) -> str:
        return f"http://127.0.0.1:{self.base + (3 if store == 'kiosk-1' else 4)}/pos/v1"

    def state(self) -> dict[str, Any]:
        result: dict[str, Any] = json.loads((self.root / "state.json").read_text())
        return result

    def parts(self) -> dict[str, str]:
        return {name: part["state"] for name, part in self.state()["parts"].items()}

    def tessera(self, *args: str, expect_ok: bool = True,
                env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        result = subprocess.run([*TESSERA, *args], env=env or self.env, cwd=ROOT,
                                capture_output=True, text=True, timeout=120)
        if expect_ok:
            assert result.returncode == 0, f"{args}: {result.stdout}\n{result.stderr}"
        assert "Traceback" not in result.stderr, result.stderr
        return result

    def control(self, action: str, part: str) -> None:
        done = self.tessera("demo", "--var-dir", str(self.root), action, part)
        assert part in done.stdout

    def token(self) -> str:
        return (self.root / "admin-token").read_text().strip()

    def sales_at_central(self, store: str) -> list[dict[str, Any]]:
        response = requests.get(f"{self.central}/api/v1/sales/",
                                params={"store": store, "page_size": 100},
                                headers={"Authorization": f"Bearer {self.token()}"},
                                timeout=10)
        result: list[dict[str, Any]] = expect(response, 200)
        return result

    def status(self, store: str) -> dict[str, Any]:
        result: dict[str, Any] = expect(requests.get(f"{self.till(store)}/status",
                                                     timeout=10), 200)
        return result


def start_demo(tmp_path: Path, *options: str) -> Iterator[Demo]:
    base = free_ports(8)  # the demo's ports are --base-port and the seven after it
    root = tmp_path / "demo"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TESSERA_")}
    env["PYTHONUNBUFFERED"] = "1"
    with open(tmp_path / "demo.out", "ab") as out:
        proc = subprocess.Popen([*TESSERA, "demo", "--var-dir", str(root), "--base-port",
                                 str(base), *options], env=env, cwd=ROOT, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
    demo = Demo(root, base, env, proc)
    try:
        def ready() -> bool:
            assert proc.poll() is None, (tmp_path / "demo.out").read_text()
            return (root / "state.json").exists() and demo.state()["ready"]

        wait_until(ready, 180, interval=0.5, what="the demo running")
        yield demo
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)
        print((tmp_path / "demo.out").read_text())  # noqa: T201 - shown on failure


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[Demo]:
    yield from start_demo(tmp_path)


@pytest.fixture
def secure_demo(tmp_path: Path) -> Iterator[Demo]:
    yield from start_demo(tmp_path, "--secure")


def sell(till: str, *codes: str) -> dict[str, Any]:
    body = {"uuid": str(uuid.uuid4()), "lines": [{"code": c, "qty": "1"} for c in codes],
            "payments": [{"method": "cash", "amount": "20"}]}
    result: dict[str, Any] = expect(requests.post(f"{till}/sales", json=body, timeout=30), 201)
    return result


def test_stopping_the_broker_leaves_the_demo_running_and_a_sale_arrives_once(
        demo: Demo) -> None:
    till = demo.till("kiosk-1")
    every = set(demo.parts())
    assert every == {"broker", "central", "kiosk-1", "market", "printer-kiosk-1",
                     "printer-market", "counter-kiosk-1", "counter-market", "media"}
    assert set(demo.parts().values()) == {"running"}

    demo.control("stop", "broker")
    assert demo.parts() == {**dict.fromkeys(every, "running"), "broker": "stopped"}
    wait_until(lambda: not demo.status("kiosk-1")["broker_connected"], 30,
               what="kiosk-1 offline")
    sale = sell(till, BREAD)  # the till keeps selling
    assert demo.sales_at_central("kiosk-1") == []
    assert demo.proc.poll() is None

    demo.control("start", "broker")
    assert set(demo.parts().values()) == {"running"}
    wait_until(lambda: [s["uuid"] for s in demo.sales_at_central("kiosk-1")], 90,
               interval=0.5, what="the sale at central")
    wait_until(lambda: demo.status("kiosk-1")["outbox_pending"] == 0, 30,
               what="the outbox acknowledged")
    assert [s["uuid"] for s in demo.sales_at_central("kiosk-1")] == [sale["uuid"]]
    assert set(demo.parts().values()) == {"running"}

    # A part that dies by itself is reported, and the rest keeps running too.
    pid = demo.state()["parts"]["printer-market"]["processes"]["printer-market"]
    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: demo.parts()["printer-market"] == "exited", 20,
               what="the printer's death noticed")
    assert demo.parts() == {**dict.fromkeys(every, "running"), "printer-market": "exited"}
    demo.control("start", "printer-market")
    assert demo.proc.poll() is None


def priced_once_synced(demo: Demo, basket: dict[str, Any]) -> dict[str, Any]:
    """kiosk-1's price of ``basket`` once the demo data behind its cards reached the store.

    The demo is ready when its processes answer; central's data reaches the stores after
    that, each stream in its own time (the Club's members later than the pricing on a busy
    machine). Until then the till refuses the card it does not know yet (422 on ``cards``);
    any other answer is checked at once."""
    def answer() -> dict[str, Any] | None:
        response = requests.post(f"{demo.till('kiosk-1')}/baskets/price", json=basket,
                                 timeout=10)
        if response.status_code == 422 and "cards" in response.json().get("errors", {}):
            return None
        result: dict[str, Any] = expect(response, 200)
        return result

    result: Any = wait_until(answer, 120, interval=0.5,
                             what=f"kiosk-1 knowing the cards {basket['cards']}")
    return dict(result)


def test_the_walkthrough_partner_card_spares_tobacco(demo: Demo) -> None:
    basket = {"lines": [{"code": BREAD, "qty": "1"}, {"code": CIGARETTES, "qty": "1"}],
              "cards": [UNION_CARD]}
    priced = priced_once_synced(demo, basket)
    bread, cigarettes = priced["lines"]
    assert [a["code"] for a in bread["adjustments"]] == ["union-card"]
    assert bread["amount"] == "1.99"  # 2.10 less 5%
    assert cigarettes["excluded_by"] == "no-discount-tobacco"
    assert cigarettes["amount"] == "5.50"
    assert priced["total"] == "7.49"
    # A Club card: the Club's 3% off the bread, nothing off the cigarettes; with the union
    # card as well only the better rate (the union's 5%) applies.
    club = {**basket, "cards": [demo_data.club_card(1)]}
    priced = priced_once_synced(demo, club)
    bread, cigarettes = priced["lines"]
    assert [(a["kind"], a["code"], a["amount"]) for a in bread["adjustments"]] == [
        ("profile", "club", "0.06")]
    assert (cigarettes["adjustments"], priced["total"]) == ([], "7.54")
    both = {**basket, "cards": [demo_data.club_card(1), UNION_CARD]}
    assert expect(requests.post(f"{demo.till('kiosk-1')}/baskets/price", json=both,
                                timeout=10), 200)["total"] == "7.49"
    # The other demo pricing is there to be seen too.
    headers = {"Authorization": f"Bearer {demo.token()}"}
    for path in ("discount-rules", "promotions", "exclusions", "vip-cards",
                 "partner-programmes"):
        assert expect(requests.get(f"{demo.central}/api/v1/{path}/", headers=headers,
                                   timeout=10), 200), path
    scheduled = expect(requests.get(f"{demo.central}/api/v1/prices/", headers=headers,
                                    timeout=10), 200)
    assert len(scheduled) >= 3


def test_a_technician_rehearses_enrolment_and_revocation_on_the_secure_demo(
        secure_demo: Demo, tmp_path: Path) -> None:
    demo = secure_demo
    root = demo.root
    central_env = dict(demo.env, **_read_env(root / "central.env"))
    # The demo stores were enrolled with one-time codes, and sell.
    assert _read_env(root / "kiosk-1" / "agent.env")["TESSERA_BROKER_USERNAME"] == "kiosk-1"
    sell(demo.till("kiosk-1"), BREAD)

    # As docs/install-agent.md: a new store at head office, a code from the console.
    headers = {"Authorization": f"Bearer {demo.token()}"}
    expect(requests.post(f"{demo.central}/api/v1/stores/", json={
        "code": "kiosk-6", "name": "Kiosk 6", "group": "kiosks"}, headers=headers,
        timeout=10), 201)
    code = demo.tessera("central", "enrolment-code", "kiosk-6", "--ttl-hours", "1",
                        env=central_env).stdout.strip()
    shop = tmp_path / "shop-pc"
    shop.mkdir()
    port = free_port()
    (shop / "site.env").write_text(f"TESSERA_POS_LISTEN=127.0.0.1:{port}\n")
    shop_env = dict(demo.env, TESSERA_VAR_DIR=str(shop),
                    TESSERA_SITE_CONFIG=str(shop / "site.env"))
    demo.tessera("agent", "enroll", "--central", demo.central, "--code", code,
                 "--timeout", "60", env=shop_env)
    with open(tmp_path / "kiosk-6.log", "ab") as log:
        agent = subprocess.Popen([*TESSERA, "agent", "run"], env=shop_env, cwd=ROOT,
                                 stdout=log, stderr=subprocess.STDOUT)
    till = f"http://127.0.0.1:{port}/pos/v1"
    try:
        wait_until(lambda: requests.get(f"{till}/status", timeout=2).json()[
            "broker_connected"], 30, what="kiosk-6 connected")
        sale = sell(till, BREAD)
        wait_until(lambda: demo.sales_at_central("kiosk-6"), 30, what="kiosk-6's sale")
        doctor = demo.tessera("agent", "doctor", env=shop_env)
        assert "[FAIL]" not in doctor.stdout

        demo.tessera("central", "broker-revoke", "kiosk-6", env=central_env)
        wait_until(lambda: not requests.get(f"{till}/status", timeout=2).json()[
            "broker_connected"], 30, what="kiosk-6 cut off")
        doctor = demo.tessera("agent", "doctor", env=shop_env, expect_ok=False)
        assert doctor.returncode == 1
        assert "[FAIL] broker login" in doctor.stdout
        offline = sell(till, BREAD)  # sells offline meanwhile

        again = demo.tessera("central", "enrolment-code", "kiosk-6", env=central_env)
        forced = demo.tessera("agent", "enroll", "--central", demo.central, "--code",
                              again.stdout.strip(), "--force", "--timeout", "60",
                              env=shop_env)
        assert "restart it" in forced.stderr
    finally:
        agent.send_signal(signal.SIGTERM)
        agent.wait(30)
    with open(tmp_path / "kiosk-6.log", "ab") as log:
        agent = subprocess.Popen([*TESSERA, "agent", "run"], env=shop_env, cwd=ROOT,
                                 stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: {s["uuid"] for s in demo.sales_at_central("kiosk-6")} == {
            sale["uuid"], offline["uuid"]}, 60, what="both sales at central, once")
        assert demo.tessera("agent", "doctor", env=shop_env).returncode == 0
        assert demo.parts()["kiosk-1"] == "running"
    finally:
        agent.send_signal(signal.SIGTERM)
        agent.wait(30)




def _read_env(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().splitlines()
                if line and not line.startswith("#"))


def test_the_demo_tills_get_head_offices_instruction_survey_and_count_visits(
        demo: Demo) -> None:
    till = demo.till("kiosk-1")
    wait_until(lambda: requests.get(f"{till}/instructions", timeout=10).json()[
        "instructions"], 60, what="the demo instruction at kiosk-1")
    shown = requests.get(f"{till}/instructions", timeout=10).json()
    assert shown["instructions"][0]["scroll"] is True and shown["seller_message"]
    survey = requests.get(f"{till}/survey", timeout=10).json()["survey"]
    assert survey["code"] == "welcome" and len(survey["questions"]) == 2
    headers = {"Authorization": f"Bearer {demo.token()}"}
    today = dt.datetime.now(dt.UTC).date()
    period = (f"since={(today - dt.timedelta(days=1)).isoformat()}"
              f"&until={(today + dt.timedelta(days=1)).isoformat()}")

    def visits() -> int:
        report = requests.get(f"{demo.central}/api/v1/footfall/?{period}", headers=headers,
                              timeout=10).json()
        return int(report["total"]["visits"])
    wait_until(lambda: visits() > 0, 90, interval=1, what="the counters' visits at central")


def test_a_demo_cashier_sells_at_market_and_the_kiosks_display_shows_the_demo_pictures(
        demo: Demo) -> None:
    # market has the two cashiers of the banner; kiosk-1 none (the README's curl sells there).
    market = demo.till("market")
    wait_until(lambda: len(requests.get(f"{market}/cashiers", timeout=10).json()[
        "cashiers"]) == 2, 60, what="the demo cashiers at market")
    assert requests.get(f"{demo.till('kiosk-1')}/cashiers", timeout=10).json() == {
        "required": False, "cashiers": []}
    output = (demo.root.parent / "demo.out").read_text()
    assert "maria (PIN 2468)" in output and "ion (PIN 1357)" in output
    wrong = requests.post(f"{market}/cashiers/sign-in", json={"code": "maria", "pin": "1357"},
                          timeout=10)
    assert wrong.status_code == 401
    signed = expect(requests.post(f"{market}/cashiers/sign-in",
                                  json={"code": "maria", "pin": "2468"}, timeout=10), 200)
    assert signed == {"code": "maria", "name": "Maria Rossi"}
    nobody = {"uuid": str(uuid.uuid4()), "lines": [{"code": BREAD, "qty": "1"}],
              "payments": [{"method": "cash", "amount": "5"}]}
    expect(requests.post(f"{market}/sales", json=nobody, timeout=30), 422)
    sale = expect(requests.post(f"{market}/sales", json={**nobody, "cashier": "maria"},
                                timeout=30), 201)
    wait_until(lambda: demo.sales_at_central("market"), 60, what="market's sale at central")
    assert [(s["uuid"], s["cashier"]) for s in demo.sales_at_central("market")] == [
        (sale["uuid"], "maria")]

    # kiosk-1 (group kiosks) shows the demo's pictures, downloaded once from the demo's
    # media server and served from the store's cache, also with the media server stopped.
    kiosk = demo.till("kiosk-1")

    def cached() -> list[dict[str, Any]]:
        content = requests.get(f"{kiosk}/display/content", timeout=10).json()
        return content["items"] if content["source"] == "head office" and len(
            content["items"]) == 2 else []
    items: Any = wait_until(cached, 60, interval=0.5, what="the demo pictures cached at kiosk-1")
    assert [(i["kind"], i["seconds"]) for i in items] == [("image", 8), ("image", 8)]
    agent = kiosk.removesuffix("/pos/v1")
    assert requests.get(f"{agent}/display/", timeout=10).status_code == 200
    demo.control("stop", "media")
    for item in items:
        assert item["src"].startswith("/pos/v1/display/cache/")
        picture = requests.get(agent + item["src"], timeout=10)
        assert picture.status_code == 200, item
        assert picture.headers["Content-Type"].startswith("image/svg+xml")
        assert b"<svg" in picture.content
    texts = b"".join(requests.get(agent + i["src"], timeout=10).content for i in items)
    assert b"Dairy month" in texts and b"3 for 2" in texts
    served = (demo.root / "media.log").read_text()
    for name in ("dairy-month.svg", "water-3-for-2.svg"):
        assert served.count(f"GET /{name} ") == 1, served  # downloaded once
    # market (no group) keeps its local folder.
    assert requests.get(f"{market}/display/content", timeout=10).json()[
        "source"].startswith("local folder")


def test_a_demo_member_is_found_at_both_tills_by_card_with_the_observation_and_alerts(
        demo: Demo) -> None:
    giulia = demo_data.club_card(1)

    def by_card(store: str) -> list[dict[str, Any]]:
        answer = requests.get(f"{demo.till(store)}/customers", params={"card": giulia},
                              timeout=10)
        return list(answer.json()["customers"]) if answer.status_code == 200 else []

    for store in ("kiosk-1", "market"):
        wait_until(lambda store=store: by_card(store), 60, interval=0.5,
                   what=f"Giulia's card at {store}")
        [member] = by_card(store)
        assert (member["first_name"], member["last_name"]) == ("Giulia", "Bianchi")
        assert member["profile"] == "club"
        assert member["observation"].startswith("Collects the weekly magazine")
        assert member["alerts"] == ["Ask for consent to SMS offers",
                                    "Ask for an e-mail address for the receipts"]
        assert member["extra"] == {"newspaper": "Weekly"}
    form = expect(requests.get(f"{demo.till('kiosk-1')}/customers/form", timeout=10), 200)
    assert form["mandatory"] == ["last_name"]
    assert [q["field"] for q in form["questions"]] == ["extra.newspaper"]
    [stefan] = expect(requests.get(f"{demo.till('market')}/customers",
                                   params={"name": "stefan"}, timeout=10), 200)["customers"]
    assert stefan["cards"][0]["number"] == demo_data.club_card(3)
    missing = requests.post(f"{demo.till('kiosk-1')}/customers",
                            json={"fields": {"first_name": "Ann"}}, timeout=10)
    assert missing.status_code == 422 and "last_name" in missing.json()["errors"]
