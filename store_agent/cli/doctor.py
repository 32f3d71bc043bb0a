"""`tessera agent doctor`: checks a store's set-up and says what to fix."""

from __future__ import annotations

import datetime as dt
import email.utils
import json
import shutil
import socket
import sqlite3
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from store_agent.settings import AgentSettings, PrinterSettings

Level = Literal["ok", "warn", "fail"]
MIN_FREE_BYTES = 500 * 1024 * 1024
MAX_SKEW = dt.timedelta(seconds=30)


@dataclass(frozen=True)
class Finding:
    level: Level
    check: str
    detail: str
    fix: str = ""


def check_database(settings: AgentSettings) -> list[Finding]:
    path = settings.database
    if not path.exists():
        return [Finding("warn", "database", f"{path} does not exist yet",
                        "run `tessera agent enroll` (or `tessera agent run`, which creates it)")]
    findings = []
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
        try:
            result = conn.execute("PRAGMA quick_check").fetchone()[0]
            pending = conn.execute("SELECT COUNT(*), MIN(created_at) FROM outbox").fetchone()
            streams = dict(conn.execute("SELECT stream, version FROM streams").fetchall())
        finally:
            conn.close()
    except sqlite3.Error as exc:
        return [Finding("fail", "database", f"cannot read {path}: {exc}",
                        "restore the database from backup or re-enroll the store")]
    findings.append(Finding("ok" if result == "ok" else "fail", "database integrity", result,
                            "" if result == "ok" else "restore from backup or re-enroll"))
    count, oldest = pending
    if count:
        age = dt.datetime.now(dt.UTC) - dt.datetime.fromisoformat(oldest)
        level: Level = "warn" if age > dt.timedelta(minutes=10) else "ok"
        findings.append(Finding(level, "sales waiting to upload",
                                f"{count}, oldest {int(age.total_seconds())} s old",
                                "check the broker and central checks below"
                                if level == "warn" else ""))
    else:
        findings.append(Finding("ok", "sales waiting to upload", "none"))
    findings.append(Finding("ok" if streams else "warn", "local copy",
                            ", ".join(f"{k}@{v}" for k, v in sorted(streams.items()))
                            or "empty", "" if streams else "the agent has not synced yet"))
    return findings


def check_disk(settings: AgentSettings) -> Finding:
    free = shutil.disk_usage(settings.database.parent if settings.database.parent.exists()
                             else settings.var_dir.parent).free
    level: Level = "ok" if free >= MIN_FREE_BYTES else "fail"
    return Finding(level, "disk space", f"{free // (1024 * 1024)} MiB free",
                   "" if level == "ok" else "free disk space: sales cannot be saved when full")


def pos_address(settings: AgentSettings) -> str:
    """Where this store's agent serves the tills (TESSERA_POS_LISTEN), as a client reaches it."""
    host = "127.0.0.1" if settings.pos_host in ("0.0.0.0", "::", "") else settings.pos_host
    return f"{host}:{settings.pos_port}"


def running_agent(settings: AgentSettings, timeout: float = 2) -> dict[str, object] | None:
    """The status of whatever agent answers on this store's POS port, or None."""
    url = f"http://{pos_address(settings)}/pos/v1/status"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            status: dict[str, object] = json.loads(response.read())
            return status if isinstance(status, dict) else None
    except (urllib.error.URLError, OSError, ValueError):
        return None


def check_running(settings: AgentSettings,
                  status: dict[str, object] | None) -> list[Finding]:
    """The running agent, if it is this store's: its version, broker session and lag."""
    address = pos_address(settings)
    if status is None:
        return [Finding("warn", "agent running", f"no agent answers on {address} "
                        "(TESSERA_POS_LISTEN)",
                        "start it: `tessera agent run` (or systemctl start tessera-agent)")]
    if status.get("store") != settings.store:
        return [Finding("fail", "agent running", f"the agent answering on {address} is store "
                        f"{status.get('store')!r}, not {settings.store!r}",
                        "stop that agent, or give this store another TESSERA_POS_LISTEN")]
    found = [Finding("ok", "agent running", f"store {settings.store} on {address}, version "
                     f"{status.get('agent_version')}, {status.get('products')} products, "
                     f"{status.get('sales')} sales")]
    connected = bool(status.get("broker_connected"))
    found.append(Finding("ok" if connected else "fail", "agent's broker session",
                         "connected" if connected else "not connected: sales are not "
                         "uploaded and changes from head office do not arrive",
                         "" if connected else "see the broker checks below; after "
                         "re-enrolling, restart the agent (systemctl restart tessera-agent)"))
    pending = status.get("outbox_pending")
    if isinstance(pending, int) and pending:
        online = connected and bool(status.get("central_online"))
        found.append(Finding("ok" if online else "warn", "sync lag",
                             f"{pending} entries not yet acknowledged by central",
                             "" if online else "central is out of reach for this store; "
                             "sales upload when it is back"))
    return found


def own_agent(settings: AgentSettings,
              status: dict[str, object] | None) -> dict[str, object] | None:
    """``status`` if it is this store's agent, else None (another store's proves nothing)."""
    return status if status is not None and status.get("store") == settings.store else None


def check_broker(settings: AgentSettings, timeout: float = 5,
                 agent_connected: bool = False) -> list[Finding]:
    broker = settings.broker
    try:
        with socket.create_connection((broker.host, broker.port), timeout=timeout):
            pass
    except OSError as exc:
        return [Finding("fail", "broker reachable", f"{broker.host}:{broker.port}: {exc}",
                        "check the network, the broker address (TESSERA_BROKER_URL) and "
                        "the firewall")]
    found = [Finding("ok", "broker reachable", f"{broker.host}:{broker.port}")]
    if agent_connected:
        # The broker binds the client id to the store's username: a second login would
        # replace the running agent's session, so its live connection is the proof.
        found.append(Finding("ok", "broker login", f"as {broker.username!r}: the running "
                             "agent is connected with these credentials"))
        return found
    result: dict[str, object] = {}
    done = threading.Event()

    def on_connect(_c: mqtt.Client, _u: object, _f: object, reason: object,
                   _p: object) -> None:
        result["reason"] = reason
        done.set()

    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"doctor-{settings.store}",
                         protocol=mqtt.MQTTv5)
    if broker.username:
        client.username_pw_set(broker.username, broker.password)
    if broker.tls:
        client.tls_set(ca_certs=broker.ca_file)
    client.on_connect = on_connect
    try:
        client.connect(broker.host, broker.port, keepalive=10)
        client.loop_start()
        done.wait(timeout)
    except OSError as exc:
        result["reason"] = exc
    finally:
        client.disconnect()
        client.loop_stop()
    reason = result.get("reason")
    failed = reason is None or isinstance(reason, Exception) or getattr(reason, "is_failure",
                                                                        True)
    found.append(Finding("fail" if failed else "ok", "broker login",
                         f"as {broker.username!r}: {reason or 'no answer'}",
                         "re-enroll the store (its credentials were revoked or are wrong)"
                         if failed else ""))
    return found


def check_central(settings: AgentSettings, now: Callable[[], dt.datetime],
                  timeout: float = 5) -> list[Finding]:
    if not settings.central_url:
        return [Finding("warn", "central", "TESSERA_CENTRAL_URL is not set",
                        "set it to head office's address (enrolment writes it)")]
    url = settings.central_url.rstrip("/") + "/healthz"
    started = time.monotonic()
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            date = response.headers.get("Date")
    except (urllib.error.URLError, OSError) as exc:
        return [Finding("warn", "central reachable", f"{url}: {exc}",
                        "the store keeps selling offline; check the line to head office")]
    elapsed = time.monotonic() - started
    found = [Finding("ok", "central reachable", f"{url} in {elapsed * 1000:.0f} ms")]
    if date:
        remote = email.utils.parsedate_to_datetime(date)
        skew = abs(now() - remote) - dt.timedelta(seconds=elapsed)
        level: Level = "ok" if skew <= MAX_SKEW else "fail"
        found.append(Finding(level, "clock", f"{max(skew.total_seconds(), 0):.0f} s from central",
                             "" if level == "ok" else "set the clock (enable NTP): sale times, "
                             "scheduled prices and periods depend on it"))
    return found


def check_central_over_mqtt(settings: AgentSettings, status: dict[str, object] | None,
                            now: Callable[[], dt.datetime],
                            timeout: float = 5) -> list[Finding]:
    """Ask central for its clock and version over MQTT (the ``clock`` request): through the
    running agent's connection, or, with none running, on a connection of our own."""
    from store_agent.sync import central_clock
    from transport.mqtt_link import MqttLink
    from transport.rpc import CentralUnreachable, Requester, RequestFailed

    fix = ("the store keeps selling offline; requests to central (gift cards, customers) "
           "wait for it: check central's ingest workers, which answer them, and the broker")
    if status is not None:
        url = f"http://{pos_address(settings)}/pos/v1/central/clock"
        try:
            with urllib.request.urlopen(url, timeout=timeout + 3) as response:
                answer = json.loads(response.read())
        except urllib.error.HTTPError as exc:
            detail = json.loads(exc.read() or b"{}").get("message", str(exc))
            return [Finding("warn", "central over MQTT", detail, fix)]
        except (urllib.error.URLError, OSError, ValueError) as exc:
            return [Finding("warn", "central over MQTT", f"the agent did not say: {exc}", fix)]
    else:
        link = MqttLink(settings.broker, f"doctor-{settings.store}")
        requester = Requester(link, settings.store)
        link.start()
        try:
            if not link.wait_connected(timeout):
                return [Finding("warn", "central over MQTT", "cannot log in to the broker",
                                "see the broker checks above")]
            clock = central_clock.ask(requester, timeout)
            answer = {"time": clock.time, "version": clock.version,
                      "round_trip_ms": clock.round_trip_ms}
        except CentralUnreachable as exc:
            return [Finding("warn", "central over MQTT", f"central unreachable: {exc}", fix)]
        except RequestFailed as exc:
            return [Finding("warn", "central over MQTT", str(exc), fix)]
        finally:
            link.stop()
    rtt = dt.timedelta(milliseconds=int(answer["round_trip_ms"]))
    skew = abs(now() - dt.datetime.fromisoformat(str(answer["time"]))) - rtt / 2
    level: Level = "ok" if skew <= MAX_SKEW else "fail"
    return [Finding("ok", "central over MQTT", f"central {answer['version']} answered in "
                    f"{answer['round_trip_ms']} ms"),
            Finding(level, "clock (over MQTT)", f"{max(skew.total_seconds(), 0):.1f} s from "
                    "central", "" if level == "ok" else "set the clock (enable NTP)")]


def check_printer(printer: PrinterSettings | None,
                  status: dict[str, object] | None) -> list[Finding]:
    if printer is None:
        return [Finding("warn", "fiscal printer", "none configured (TESSERA_PRINTER_URL)",
                        "set it where sales need fiscal receipts: datecs+tcp://host:port, "
                        "datecs+serial:///dev/ttyUSB0 or journal:///path")]
    if status is not None:
        # The running agent owns the port: ask it, not the device.
        pending = status.get("fiscal_pending")
        if isinstance(pending, int) and pending:
            return [Finding("fail", "fiscal printer", f"{pending} sales wait for their fiscal "
                            "receipt; new sales are refused", "fix the printer (paper, "
                            "cover, cable); the agent finishes the receipts by itself")]
        return [Finding("ok", "fiscal printer", f"{printer.driver}: every sale has its "
                        "receipt")]
    from store_agent.fiscal.device import FiscalError
    from store_agent.fiscal.factory import open_device

    try:
        device = open_device(printer)
    except (FiscalError, OSError) as exc:
        return [Finding("fail", "fiscal printer", f"{printer.driver} at {printer.address}: "
                        f"{exc}", "check power, cable and TESSERA_PRINTER_URL")]
    try:
        state = device.status()
        tx = device.transaction_state()
    except (FiscalError, OSError) as exc:
        return [Finding("fail", "fiscal printer", str(exc), "check the printer")]
    finally:
        device.close()
    found = [Finding("fail" if state.errors else "ok", "fiscal printer",
                     "; ".join(state.errors) or f"{printer.driver} ready",
                     "fix the printer as the message says" if state.errors else "")]
    found += [Finding("warn", "fiscal printer", warning) for warning in state.warnings]
    if tx.open:
        found.append(Finding("warn", "fiscal printer", "a receipt is open", "start the agent: "
                             "its recovery finishes or reprints it"))
    return found


def run_checks(settings: AgentSettings,
               now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC)
               ) -> list[Finding]:
    answering = running_agent(settings)
    status = own_agent(settings, answering)
    broker = check_broker(settings, agent_connected=bool(status and
                                                         status.get("broker_connected")))
    over_mqtt = ([] if any(f.level == "fail" for f in broker)
                 else check_central_over_mqtt(settings, status, now))
    return [Finding("ok", "configuration", f"store {settings.store}"),
            *check_database(settings), check_disk(settings),
            *check_running(settings, answering),
            *broker, *check_central(settings, now), *over_mqtt,
            *check_printer(settings.printer, status)]
