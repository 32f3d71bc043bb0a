"""Broker security with a real Mosquitto fed the files central generates.

Stores kiosk-a and kiosk-b get their logins from ``broker_access.issue``; the broker reads
the ``passwd`` and ``acl`` that ``broker_access.write_files`` wrote from the database, and
reloads them on SIGHUP sent by ``broker_access.sync`` through the broker's pid file.

"Nothing arrives" is never a bare sleep: the forbidden message is sent first, then an allowed
control on the same path; MQTT keeps the order per publisher and per subscriber queue, so
once the control is in, the forbidden message would have been in before it.
"""

from __future__ import annotations

import os
import queue
import shutil
import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from central import settings as settings_mod
from central.db import Database
from central.models import StoreStatus
from central.services import broker_access, stores
from protocol import topics
from tests.support import Broker, free_port, wait_until
from transport.mqtt_link import MqttLink

pytestmark = pytest.mark.integration

A, B = "kiosk-a", "kiosk-b"
CENTRAL_PASSWORD = "central-test-secret"
NOT_AUTHORISED = (134, 135)  # "bad user name or password", "not authorized"


class SecureBroker(Broker):
    """The deployed layout: a store listener that binds the client id to the username, a
    central listener without it, and central's passwd/acl; pid file for reloads."""

    def __init__(self, workdir: Path, auth_dir: Path, tls: str = "") -> None:
        super().__init__(workdir)
        self.central_port = free_port()
        self.pid_file = workdir / f"mosquitto-{self.port}.pid"
        # The broker drops root for user mosquitto before it reads passwd (also on reload);
        # the test files belong to whoever runs the tests, so keep that user.
        user = "user root\n" if os.geteuid() == 0 else ""
        self.config.write_text(
            "per_listener_settings false\n"
            f"listener {self.port} 127.0.0.1\nuse_username_as_clientid true\n"
            f"listener {self.central_port} 127.0.0.1\n"
            f"{tls}"
            "allow_anonymous false\n"
            f"password_file {auth_dir / 'passwd'}\nacl_file {auth_dir / 'acl'}\n"
            f"pid_file {self.pid_file}\n{user}"
            "persistence false\nlog_dest stderr\nlog_type all\nconnection_messages true\n")

    def start(self) -> SecureBroker:
        super().start()
        wait_until(lambda: self.pid_file.exists(), 10, what="the broker's pid file")
        return self

    def log(self) -> str:
        return (self.workdir / f"mosquitto-{self.port}.log").read_text(errors="replace")


@dataclass
class Client:
    """A paho 2.x client (MQTT v5) that records everything it sees."""

    name: str
    port: int
    username: str | None
    password: str | None
    client_id: str
    will: tuple[str, bytes] | None = None
    paho: mqtt.Client = field(init=False)
    connacks: list[ReasonCode] = field(default_factory=list)
    disconnects: list[ReasonCode] = field(default_factory=list)
    messages: queue.Queue[mqtt.MQTTMessage] = field(default_factory=queue.Queue)
    received: list[tuple[str, bytes]] = field(default_factory=list)
    subacks: dict[int, list[ReasonCode]] = field(default_factory=dict)
    pubacks: dict[int, ReasonCode] = field(default_factory=dict)
    connected: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self.paho = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=self.client_id,
                                protocol=mqtt.MQTTv5)
        self.paho.reconnect_delay_set(min_delay=1, max_delay=2)
        if self.username is not None:
            self.paho.username_pw_set(self.username, self.password)
        if self.will is not None:
            self.paho.will_set(self.will[0], self.will[1], qos=1, retain=True)
        self.paho.on_connect = self._on_connect
        self.paho.on_disconnect = self._on_disconnect
        self.paho.on_message = self._on_message
        self.paho.on_subscribe = self._on_subscribe
        self.paho.on_publish = self._on_publish

    def _on_connect(self, _c: Any, _u: Any, _f: Any, reason: ReasonCode, _p: Any) -> None:
        self.connacks.append(reason)
        if not reason.is_failure:
            self.connected.set()

    def _on_disconnect(self, _c: Any, _u: Any, _f: Any, reason: ReasonCode, _p: Any) -> None:
        if self.connected.is_set():
            self.disconnects.append(reason)
        self.connected.clear()

    def _on_message(self, _c: Any, _u: Any, message: mqtt.MQTTMessage) -> None:
        self.received.append((message.topic, bytes(message.payload)))
        self.messages.put(message)

    def _on_subscribe(self, _c: Any, _u: Any, mid: int, codes: list[ReasonCode],
                      _p: Any) -> None:
        self.subacks[mid] = codes

    def _on_publish(self, _c: Any, _u: Any, mid: int, reason: ReasonCode, _p: Any) -> None:
        self.pubacks[mid] = reason

    def start(self) -> Client:
        self.paho.connect_async("127.0.0.1", self.port, keepalive=30, clean_start=True)
        self.paho.loop_start()
        return self

    def wait_connack(self, timeout: float = 10) -> ReasonCode:
        wait_until(lambda: self.connacks, timeout, what=f"{self.name}'s CONNACK")
        return self.connacks[0]

    def wait_connected(self, timeout: float = 10) -> Client:
        wait_until(self.connected.is_set, timeout, what=f"{self.name} connected")
        return self

    def subscribe(self, *filters: str) -> list[ReasonCode]:
        _rc, mid = self.paho.subscribe([(f, 1) for f in filters])
        wait_until(lambda: mid in self.subacks, 10, what=f"{self.name}'s SUBACK")
        return self.subacks[mid]

    def publish(self, topic: str, payload: bytes, *, retain: bool = False) -> ReasonCode:
        """Publish at QoS 1 and wait for the broker's PUBACK; its reason code."""
        info = self.paho.publish(topic, payload, qos=1, retain=retain)
        wait_until(lambda: info.mid in self.pubacks, 10, what=f"{self.name}'s PUBACK")
        return self.pubacks[info.mid]

    def wait_for(self, topic: str, payload: bytes, timeout: float = 10) -> None:
        wait_until(lambda: (topic, payload) in self.received, timeout,
                   what=f"{self.name} to receive {payload!r} on {topic}")

    def stop(self) -> None:
        self.paho.disconnect()
        self.paho.loop_stop()


@dataclass
class Setup:
    db: Database
    broker: SecureBroker
    settings: settings_mod.CentralSettings
    passwords: dict[str, str]
    clients: list[Client] = field(default_factory=list)

    def client(self, name: str, username: str | None, password: str | None, *,
               client_id: str | None = None, port: int | None = None,
               will: tuple[str, bytes] | None = None) -> Client:
        client = Client(name, port or self.broker.port, username, password,
                        client_id or f"test-{name}", will)
        self.clients.append(client)
        return client.start()

    def store(self, code: str, **kwargs: Any) -> Client:
        """A store as the agent connects: client id store-<code>, its own password."""
        return self.client(code, code, self.passwords[code],
                           client_id=kwargs.pop("client_id", f"store-{code}"), **kwargs)

    def central(self, name: str = "central") -> Client:
        return self.client(name, "central", CENTRAL_PASSWORD, client_id=f"tessera-{name}",
                           port=self.broker.central_port)

    def sync(self) -> str | None:
        with self.db.sessions() as session:
            return broker_access.sync(session, self.settings, force=True)


@pytest.fixture
def setup(clean_pg_db: Database, tmp_path: Path) -> Iterator[Setup]:
    with clean_pg_db.transaction() as session:
        stores.create_store(session, A, "Kiosk A")
        stores.create_store(session, B, "Kiosk B")
        passwords = {A: broker_access.issue(session, A), B: broker_access.issue(session, B)}
    auth_dir = tmp_path / "broker-auth"
    broker = SecureBroker(tmp_path, auth_dir)
    settings = settings_mod.load({
        "TESSERA_DATABASE_URL": clean_pg_db.url,
        "TESSERA_VAR_DIR": str(tmp_path),
        "TESSERA_BROKER_URL": f"mqtt://127.0.0.1:{broker.central_port}",
        "TESSERA_BROKER_USERNAME": "central",
        "TESSERA_BROKER_PASSWORD": CENTRAL_PASSWORD,
        "TESSERA_BROKER_AUTH_DIR": str(auth_dir),
        "TESSERA_BROKER_PID_FILE": str(broker.pid_file),
    })
    with clean_pg_db.sessions() as session:
        assert broker_access.write_files(session, auth_dir,
                                         broker_access.service_accounts(settings))
    broker.start()
    state = Setup(clean_pg_db, broker, settings, passwords)
    try:
        yield state
    finally:
        for client in state.clients:
            client.stop()
        broker.kill()


def refused(reason: ReasonCode) -> bool:
    return reason.is_failure and reason.value in NOT_AUTHORISED


# --- (a) who may connect ----------------------------------------------------------------------

def test_only_a_store_with_its_own_password_connects(setup: Setup) -> None:
    assert not setup.store(A).wait_connack().is_failure

    assert refused(setup.client("wrong", A, "not-the-password").wait_connack())
    assert refused(setup.client("b-password", A, setup.passwords[B]).wait_connack())
    assert refused(setup.client("unknown", "kiosk-z", setup.passwords[A]).wait_connack())
    assert refused(setup.client("anonymous", None, None).wait_connack())
    assert not setup.central().wait_connack().is_failure


def test_the_password_file_holds_mosquitto_hashes_and_no_password(setup: Setup) -> None:
    passwd = (setup.settings.broker_auth_dir / "passwd").read_text()  # type: ignore[operator]
    entries = dict(line.split(":", 1) for line in passwd.splitlines() if ":" in line
                   and not line.startswith("#"))
    assert sorted(entries) == sorted([A, B, "central"])
    assert all(value.startswith("$7$101$") for value in entries.values())
    assert setup.passwords[A] not in passwd and CENTRAL_PASSWORD not in passwd
    assert oct(os.stat(setup.settings.broker_auth_dir / "passwd").st_mode  # type: ignore[operator]
               & 0o777) == "0o600"


# --- (b) a store cannot publish on another store's topics -------------------------------------

def test_a_store_cannot_publish_as_another_store(setup: Setup) -> None:
    central = setup.central().wait_connected()
    central.subscribe(topics.ALL_STORES_UP, topics.ALL_STORES_STATE, topics.ALL_STORES_RPC)
    a = setup.store(A).wait_connected()

    # Forbidden first, then the allowed control from the same publisher.
    forbidden = [(topics.store_up(B), b"forged sale"), (topics.store_state(B), b"forged birth"),
                 (topics.store_rpc(B), b"forged request"),
                 (topics.store_up_ack(B), b"forged ack"), (topics.store_down(B), b"forged")]
    for topic, payload in forbidden:
        assert a.publish(topic, payload).value == 135  # MQTT v5 PUBACK: not authorized
    assert not a.publish(topics.store_up(A), b"own sale").is_failure
    central.wait_for(topics.store_up(A), b"own sale")

    assert [m for m in central.received if m[0].startswith(f"{topics.ROOT}/stores/{B}/")] == []
    assert central.received == [(topics.store_up(A), b"own sale")]


# --- (c) a store cannot read another store's sales or acknowledgements ------------------------

def test_a_store_cannot_read_another_stores_sales_or_acks(setup: Setup) -> None:
    central = setup.central().wait_connected()
    central.subscribe(topics.ALL_STORES_UP)
    # A retained ack for B exists before A subscribes (acks are retained).
    assert not central.publish(topics.store_up_ack(B), b"ack 1", retain=True).is_failure

    a = setup.store(A).wait_connected()
    a.subscribe(topics.store_up(B), topics.store_up_ack(B), topics.ALL_STORES_UP,
                f"{topics.ROOT}/stores/+/up/ack", f"{topics.ROOT}/stores/{B}/#",
                f"{topics.ROOT}/#", topics.CENTRAL_STATE)
    b = setup.store(B).wait_connected()
    b.subscribe(topics.store_up_ack(B))
    b.wait_for(topics.store_up_ack(B), b"ack 1")  # control: B reads its own retained ack

    assert not b.publish(topics.store_up(B), b"sale of B").is_failure
    central.wait_for(topics.store_up(B), b"sale of B")  # control: B's sale reaches central
    assert not central.publish(topics.store_up_ack(B), b"ack 2", retain=True).is_failure
    b.wait_for(topics.store_up_ack(B), b"ack 2")
    # Marker on a topic A may read, published after everything above: A's queue is FIFO.
    assert not central.publish(topics.CENTRAL_STATE, b"marker").is_failure
    a.wait_for(topics.CENTRAL_STATE, b"marker")

    # Only the marker (once per matching subscription): nothing of B's.
    assert {m for m in a.received} == {(topics.CENTRAL_STATE, b"marker")}


# --- (d) what a store may read and write ------------------------------------------------------

def test_a_store_reads_its_own_topics_buckets_and_central_state(setup: Setup) -> None:
    central = setup.central().wait_connected()
    central.subscribe(topics.ALL_STORES_STATE, topics.ALL_STORES_RPC,
                      f"{topics.ROOT}/stores/+/cmd/res")
    assert not central.publish(topics.CENTRAL_STATE, b"online", retain=True).is_failure
    a = setup.store(A).wait_connected()
    a.subscribe(topics.ALL_BUCKETS_DOWN, topics.CENTRAL_STATE, topics.store_down(A),
                topics.store_up_ack(A), topics.store_cmd(A), f"{topics.store_rpc(A)}/res")
    a.wait_for(topics.CENTRAL_STATE, b"online")

    readable = [(topics.bucket_down("catalog"), b"change"), (topics.store_down(A), b"snapshot"),
                (topics.store_up_ack(A), b"ack"), (topics.store_cmd(A), b"rebirth"),
                (f"{topics.store_rpc(A)}/res", b"answer")]
    for topic, payload in readable:
        assert not central.publish(topic, payload).is_failure
    for topic, payload in readable:
        a.wait_for(topic, payload)

    writable = [(topics.store_state(A), b"birth"), (topics.store_rpc(A), b"catch-up"),
                (f"{topics.store_cmd(A)}/res", b"done")]
    for topic, payload in writable:
        assert not a.publish(topic, payload).is_failure
    for topic, payload in writable:
        central.wait_for(topic, payload)


def test_central_ingests_through_a_shared_subscription(setup: Setup) -> None:
    group = topics.shared("tessera-ingest", topics.ALL_STORES_UP)
    ingest = [setup.central(f"central-ingest-{n}").wait_connected() for n in (1, 2)]
    for worker in ingest:
        assert not worker.subscribe(group)[0].is_failure
    a = setup.store(A).wait_connected()
    sent = [f"sale {n}".encode() for n in range(20)]
    for payload in sent:
        assert not a.publish(topics.store_up(A), payload).is_failure
    wait_until(lambda: sum(len(w.received) for w in ingest) == len(sent), 10,
               what="every sale at one ingest worker")
    got = sorted(p for w in ingest for _t, p in w.received)
    assert got == sorted(sent)  # each exactly once, across the group


# --- (e) revocation cuts a connected store off ------------------------------------------------

@pytest.mark.parametrize("how", ["revoke", "deactivate", "reissue"])
def test_a_withdrawn_store_is_disconnected_and_refused(setup: Setup, how: str) -> None:
    central = setup.central().wait_connected()
    central.subscribe(topics.ALL_STORES_UP, topics.ALL_STORES_STATE)
    a = setup.store(A, will=(topics.store_state(A), b"dead")).wait_connected()
    b = setup.store(B).wait_connected()
    assert not a.publish(topics.store_state(A), b"birth", retain=True).is_failure
    assert not a.publish(topics.store_up(A), b"before").is_failure
    central.wait_for(topics.store_up(A), b"before")
    with setup.db.transaction() as session:
        session.add(StoreStatus(store_id=stores.get_store(session, A).id, online=True,
                                session=1))

    with setup.db.transaction() as session:
        if how == "revoke":
            assert broker_access.revoke(session, A)
        elif how == "deactivate":
            stores.update_store(session, A, {"active": False})
        else:
            new_password = broker_access.issue(session, A)
    assert "SIGHUP" in (setup.sync() or "")

    wait_until(lambda: a.disconnects, 10, what="the broker to drop kiosk-a")
    # (Mosquitto 2.0.11 publishes no last will for a client it drops on reload.)
    # paho reconnects by itself: the broker refuses it now.
    wait_until(lambda: len(a.connacks) > 1, 10, what="kiosk-a's reconnection attempt")
    assert refused(a.connacks[-1]) and not a.connected.is_set()
    assert refused(setup.client("again", A, setup.passwords[A]).wait_connack())

    # B was not touched: same connection, still publishing.
    assert b.disconnects == [] and b.connected.is_set()
    assert not b.publish(topics.store_up(B), b"still here").is_failure
    central.wait_for(topics.store_up(B), b"still here")

    if how == "reissue":  # the new password works
        assert not setup.client("renewed", A, new_password).wait_connack().is_failure
    if how == "revoke":
        with setup.db.sessions() as session:
            assert not session.get(StoreStatus, stores.get_store(session, A).id).online
        # Its retained birth would tell a restarted publisher it is online: clear it.
        broker_access.forget_state(setup.settings.broker, A)
        assert not b.publish(topics.store_state(B), b"birth of B", retain=True).is_failure
        late = setup.central("late").wait_connected()
        late.subscribe(topics.store_state(A))
        late.subscribe(topics.store_state(B))  # retained messages come in SUBSCRIBE order
        late.wait_for(topics.store_state(B), b"birth of B")
        assert late.received == [(topics.store_state(B), b"birth of B")]


def test_revoking_twice_and_unchanged_files_are_no_ops(setup: Setup) -> None:
    with setup.db.transaction() as session:
        assert broker_access.revoke(session, A)
        assert not broker_access.revoke(session, A)
    with setup.db.sessions() as session:
        assert broker_access.sync(session, setup.settings) is not None
        assert broker_access.sync(session, setup.settings) == "broker files unchanged"


# --- client-id binding --------------------------------------------------------------------------

def test_a_store_cannot_take_over_another_stores_client_id(setup: Setup) -> None:
    central = setup.central().wait_connected()
    central.subscribe(topics.ALL_STORES_UP)
    b = setup.store(B).wait_connected()

    # kiosk-a logs in with kiosk-b's client id: the broker renames it to "kiosk-a".
    thief = setup.store(A, client_id=f"store-{B}").wait_connected()
    assert not thief.publish(topics.store_up(A), b"from the thief").is_failure
    central.wait_for(topics.store_up(A), b"from the thief")
    assert not b.publish(topics.store_up(B), b"b unharmed").is_failure
    central.wait_for(topics.store_up(B), b"b unharmed")
    assert b.disconnects == [] and b.connected.is_set()
    assert f"as {A} (p5" in setup.broker.log()

    # Central's workers share the `central` login on their own listener and keep their ids.
    other = setup.central("central-other").wait_connected()
    assert other.connected.is_set() and central.connected.is_set()
    assert central.disconnects == []


# --- TLS: the agent's TESSERA_BROKER_CA_FILE ------------------------------------------------------

def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_certificates(directory: Path) -> None:
    """A private CA and a server certificate for 127.0.0.1 (openssl CLI)."""
    directory.mkdir()
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
             "/CN=Tessera test CA", "-keyout", "ca.key", "-out", "ca.crt", cwd=directory)
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
             "-keyout", "server.key", "-out", "server.csr", cwd=directory)
    (directory / "san.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    _openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
             "-CAcreateserial", "-days", "2", "-extfile", "san.ext", "-out", "server.crt",
             cwd=directory)
    for name in ("server.key", "server.crt", "ca.crt"):
        os.chmod(directory / name, 0o644)


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl CLI")
# paho drops the socket of a failed TLS handshake without closing it.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_an_agent_connects_over_tls_with_a_private_ca(clean_pg_db: Database,
                                                       tmp_path: Path) -> None:
    from store_agent import settings as agent_settings

    certs = tmp_path / "certs"
    make_certificates(certs)
    tls_port = free_port()
    tls = (f"listener {tls_port} 127.0.0.1\nuse_username_as_clientid true\n"
           f"tls_version tlsv1.2\ncafile {certs / 'ca.crt'}\n"
           f"certfile {certs / 'server.crt'}\nkeyfile {certs / 'server.key'}\n")
    with clean_pg_db.transaction() as session:
        stores.create_store(session, A, "Kiosk A")
        password = broker_access.issue(session, A)
    auth_dir = tmp_path / "auth"
    with clean_pg_db.sessions() as session:
        broker_access.write_files(session, auth_dir, {"central": CENTRAL_PASSWORD})
    broker = SecureBroker(tmp_path, auth_dir, tls=tls).start()
    links: list[MqttLink] = []
    try:
        wait_until(lambda: broker._listening() and _port_open(tls_port), 10, what="TLS port")

        def agent_link(ca_file: Path | None) -> MqttLink:
            env = {"TESSERA_STORE_CODE": A, "TESSERA_VAR_DIR": str(tmp_path),
                   "TESSERA_AGENT_CONFIG": str(tmp_path / "none.env"),
                   "TESSERA_BROKER_URL": f"mqtts://127.0.0.1:{tls_port}",
                   "TESSERA_BROKER_PASSWORD": password}
            if ca_file is not None:
                env["TESSERA_BROKER_CA_FILE"] = str(ca_file)
            link = MqttLink(agent_settings.load(env).broker, f"store-{A}")
            links.append(link)
            return link

        trusted = agent_link(certs / "ca.crt")
        trusted.start()
        assert trusted.wait_connected(10)
        # Without the private CA the broker's certificate is not trusted.
        with pytest.raises(ssl.SSLCertVerificationError):
            agent_link(None).client.connect("127.0.0.1", tls_port)
    finally:
        for link in links:
            link.stop()
        broker.kill()


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False

