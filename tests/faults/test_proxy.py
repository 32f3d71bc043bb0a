"""The fault proxy: MQTT framing (pure), then each fault against a real Mosquitto."""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Callable, Iterator

import paho.mqtt.client as mqtt
import pytest
from hypothesis import given
from hypothesis import strategies as st
from paho.mqtt.enums import CallbackAPIVersion

from tests.faults.framing import (
    Framer,
    FramingError,
    connect_client_id,
    decode_remaining_length,
    encode_remaining_length,
    puback,
    publish_info,
    topic_matches,
    with_dup_flag,
)
from tests.faults.proxy import DOWN, UP, Fault, FaultProxy
from tests.support import Broker, wait_until


def _str(text: str) -> bytes:
    raw = text.encode()
    return struct.pack("!H", len(raw)) + raw


def publish_packet(topic: str, payload: bytes, qos: int = 1, packet_id: int = 7,
                   v5: bool = True) -> bytes:
    body = _str(topic) + (struct.pack("!H", packet_id) if qos else b"")
    body += (b"\x00" if v5 else b"") + payload  # MQTT 5: empty properties
    return bytes([0x30 | qos << 1]) + encode_remaining_length(len(body)) + body


def connect_packet(client_id: str, level: int = 5, props: bytes = b"") -> bytes:
    body = _str("MQTT") + bytes([level, 0x02]) + struct.pack("!H", 30)
    if level == 5:
        body += encode_remaining_length(len(props)) + props
    body += _str(client_id)
    return bytes([0x10]) + encode_remaining_length(len(body)) + body


# -- framing --------------------------------------------------------------------------------

@pytest.mark.parametrize(("value", "encoded"), [
    (0, b"\x00"), (127, b"\x7f"), (128, b"\x80\x01"), (16_383, b"\xff\x7f"),
    (16_384, b"\x80\x80\x01"), (2_097_151, b"\xff\xff\x7f"), (268_435_455, b"\xff\xff\xff\x7f"),
])
def test_remaining_length_examples_of_the_spec(value: int, encoded: bytes) -> None:
    assert encode_remaining_length(value) == encoded
    assert decode_remaining_length(b"\x30" + encoded) == (value, len(encoded))


def test_remaining_length_incomplete_and_invalid() -> None:
    assert decode_remaining_length(b"\x30") is None
    assert decode_remaining_length(b"\x30\x80\x80") is None
    with pytest.raises(FramingError):
        decode_remaining_length(b"\x30\x80\x80\x80\x80\x01")
    with pytest.raises(FramingError):
        encode_remaining_length(268_435_456)


packets_strategy = st.lists(
    st.one_of(
        st.builds(publish_packet,
                  st.text(st.characters(min_codepoint=32, exclude_categories=("Cs",)),
                          min_size=1, max_size=40),
                  st.binary(max_size=300), st.sampled_from([0, 1]),
                  st.integers(1, 65535)),
        st.builds(puback, st.integers(1, 65535)),
        st.just(b"\xc0\x00"), st.just(b"\xd0\x00"),  # PINGREQ, PINGRESP
    ), min_size=1, max_size=20)


@given(packets=packets_strategy, cuts=st.lists(st.integers(0, 10_000), max_size=30))
def test_framer_restores_packets_whatever_the_read_boundaries(packets: list[bytes],
                                                              cuts: list[int]) -> None:
    stream = b"".join(packets)
    bounds = sorted({0, len(stream), *(c % (len(stream) + 1) for c in cuts)})
    framer = Framer()
    out: list[bytes] = []
    for start, end in zip(bounds, bounds[1:], strict=False):
        out.extend(framer.feed(stream[start:end]))
    assert out == packets
    assert framer.pending == 0


def test_framer_holds_an_incomplete_packet() -> None:
    packet = publish_packet("a/b", b"x" * 200)  # two-byte remaining length
    framer = Framer()
    assert framer.feed(packet[:1]) == []
    assert framer.feed(packet[1:2]) == []
    assert framer.feed(packet[2:-1]) == []
    assert framer.pending == len(packet) - 1
    assert framer.feed(packet[-1:] + b"\xc0\x00") == [packet, b"\xc0\x00"]


@pytest.mark.parametrize("v5", [True, False])
def test_publish_info(v5: bool) -> None:
    info = publish_info(publish_packet("tessera/v1/bucket/catalog/down", b"{}", 1, 513, v5))
    assert (info.topic, info.qos, info.packet_id, info.dup, info.retain) == \
        ("tessera/v1/bucket/catalog/down", 1, 513, False, False)
    assert publish_info(with_dup_flag(publish_packet("t", b"", 1))).dup
    qos0 = publish_packet("t", b"abc", 0)
    assert publish_info(qos0).packet_id is None
    assert with_dup_flag(qos0) == qos0  # DUP must be 0 for QoS 0
    with pytest.raises(FramingError):
        publish_info(puback(1))


def test_connect_client_id_mqtt5_with_properties_and_311() -> None:
    props = b"\x11\x00\x00\x00\x3c" + b"\x21\x00\x14"  # session expiry, receive maximum
    assert connect_client_id(connect_packet("store-kiosk-1", 5, props)) == "store-kiosk-1"
    assert connect_client_id(connect_packet("legacy", 4)) == "legacy"


@pytest.mark.parametrize(("pattern", "topic", "match"), [
    ("a/b", "a/b", True), ("a/+", "a/b", True), ("a/+", "a/b/c", False),
    ("a/#", "a/b/c", True), ("+/+/down", "x/y/down", True), ("a/b", "a/b/c", False),
    ("tessera/v1/bucket/+/down", "tessera/v1/stores/k/down", False),
])
def test_topic_matches(pattern: str, topic: str, match: bool) -> None:
    assert topic_matches(pattern, topic) is match


def test_fault_count_is_shared_and_only_publishes_count() -> None:
    fault = Fault("drop", DOWN, topic="a/+", count=2)
    assert not fault.take(puback(1))
    assert not fault.take(publish_packet("b/c", b""))
    assert [fault.take(publish_packet("a/c", b"")) for _ in range(3)] == [True, True, False]
    assert fault.applies(DOWN) and not fault.applies(UP)
    picky = Fault("drop", DOWN, contains=b'"kind":"snapshot"')
    assert not picky.take(publish_packet("a", b'{"kind":"changes"}'))
    assert picky.take(publish_packet("a", b'{"kind":"snapshot","part":1}'))
    with pytest.raises(ValueError):
        Fault("explode")


# -- against a real broker ------------------------------------------------------------------

class Client:
    """A paho client through the proxy that records what it receives."""

    def __init__(self, port: int, client_id: str, subscribe: str | None = None,
                 keepalive: int = 30) -> None:
        self.received: list[tuple[str, bytes]] = []
        self.connects = 0
        self.disconnects = 0
        self.lock = threading.Lock()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id,
                                  protocol=mqtt.MQTTv5)
        self.client.reconnect_delay_set(0.1, 0.5)
        self.subscription = subscribe

        def on_connect(client: mqtt.Client, *_args: object) -> None:
            if self.subscription:
                client.subscribe(self.subscription, qos=1)
            self.connects += 1

        def on_disconnect(*_args: object) -> None:
            self.disconnects += 1

        def on_message(_c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
            with self.lock:
                self.received.append((msg.topic, bytes(msg.payload)))

        def on_subscribe(*_args: object) -> None:
            self.subscribed.set()

        self.subscribed = threading.Event()
        self.client.on_connect = on_connect
        self.client.on_disconnect = on_disconnect
        self.client.on_message = on_message
        self.client.on_subscribe = on_subscribe
        self.client.connect_async("127.0.0.1", port, keepalive=keepalive)
        self.client.loop_start()
        if subscribe:
            assert self.subscribed.wait(5), "no SUBACK"
        else:
            wait_until(self.client.is_connected, 5, what=f"{client_id} connected")

    def payloads(self) -> list[bytes]:
        with self.lock:
            return [p for _t, p in self.received]

    def publish(self, topic: str, payloads: list[bytes]) -> None:
        infos = [self.client.publish(topic, p, qos=1) for p in payloads]
        for info in infos:
            info.wait_for_publish(5)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def proxied(broker: Broker) -> Iterator[tuple[FaultProxy, Callable[..., Client]]]:
    proxy = FaultProxy(broker.port).start()
    clients: list[Client] = []

    def client(client_id: str, subscribe: str | None = None, keepalive: int = 30) -> Client:
        c = Client(proxy.port, client_id, subscribe, keepalive)
        clients.append(c)
        return c

    try:
        yield proxy, client
    finally:
        for c in clients:
            c.close()
        proxy.stop()


MESSAGES = [f"m{i}".encode() for i in range(10)]


def test_pass_and_client_names(proxied: tuple[FaultProxy, Callable[..., Client]]) -> None:
    proxy, client = proxied
    sub = client("sub", "t/#")
    pub = client("pub")
    assert proxy.connections() == ["pub", "sub"]
    assert proxy.connections("p*") == ["pub"]
    pub.publish("t/x", MESSAGES)
    wait_until(lambda: sub.payloads() == MESSAGES, 5, what="all messages in order")


def test_drop_a_counted_number_of_publishes_and_fake_the_puback(
        proxied: tuple[FaultProxy, Callable[..., Client]]) -> None:
    proxy, client = proxied
    sub = client("sub", "t/#")
    pub = client("pub")
    fault = proxy.drop("sub", DOWN, topic="t/x", count=3)
    pub.publish("t/x", MESSAGES[:5])
    pub.publish("t/y", [b"other"])
    pub.publish("t/x", MESSAGES[5:])
    wait_until(lambda: len(sub.payloads()) == 8, 5, what="8 of 11 messages")
    assert sub.payloads() == [*MESSAGES[3:5], b"other", *MESSAGES[5:]]
    assert fault.count == 0 and proxy.stats.dropped == 3
    # The broker got PUBACKs for the dropped ones: its in-flight window is free and the
    # connection lives on.
    pub.publish("t/x", [b"after"])
    wait_until(lambda: sub.payloads()[-1:] == [b"after"], 5, what="later message")
    assert sub.disconnects == 0


def test_drop_upstream_answers_the_sender(
        proxied: tuple[FaultProxy, Callable[..., Client]]) -> None:
    proxy, client = proxied
    sub = client("sub", "t/#")
    pub = client("pub")
    proxy.drop("pub", UP)
    pub.publish("t/x", MESSAGES[:3])  # each PUBACKed by the proxy
    proxy.clear("pub")
    pub.publish("t/x", [b"through"])
    wait_until(lambda: sub.payloads() == [b"through"], 5, what="only the last message")


def test_duplicate_each_direction(proxied: tuple[FaultProxy, Callable[..., Client]]) -> None:
    proxy, client = proxied
    sub = client("sub", "t/#")
    pub = client("pub")
    proxy.duplicate("pub", UP, count=2)
    pub.publish("t/x", MESSAGES[:3])
    wait_until(lambda: len(sub.payloads()) == 5, 5, what="two duplicates")
    assert sub.payloads() == [MESSAGES[0], MESSAGES[0], MESSAGES[1], MESSAGES[1], MESSAGES[2]]
    proxy.clear("pub")
    proxy.duplicate("sub", DOWN, topic="t/dup")
    pub.publish("t/dup", [b"d"])
    pub.publish("t/x", [b"x"])
    wait_until(lambda: sub.payloads()[5:] == [b"d", b"d", b"x"], 5, what="downstream dup")
    assert sub.disconnects == 0


def test_reorder_and_late_duplicates(proxied: tuple[FaultProxy, Callable[..., Client]]) -> None:
    proxy, client = proxied
    sub = client("sub", "t/#")
    pub = client("pub")
    proxy.reorder(300, "sub", DOWN, count=1)
    pub.publish("t/x", MESSAGES[:3])
    wait_until(lambda: sub.payloads() == [MESSAGES[1], MESSAGES[2], MESSAGES[0]], 5,
               what="the first message overtaken by the next two")
    proxy.duplicate("sub", DOWN, count=1, late_ms=300)
    pub.publish("t/x", MESSAGES[3:6])
    wait_until(lambda: sub.payloads()[3:] == [*MESSAGES[3:6], MESSAGES[3]], 5,
               what="a late copy of the fourth message")
    assert proxy.stats.reordered == 1 and sub.disconnects == 0


def test_delay_keeps_order(proxied: tuple[FaultProxy, Callable[..., Client]]) -> None:
    proxy, client = proxied
    sub = client("sub", "t/#")
    pub = client("pub")
    proxy.delay(300, "sub", DOWN)
    pub.publish("t/x", MESSAGES)
    wait_until(lambda: sub.payloads() == MESSAGES, 5, what="delayed messages in order")
    # Every message reached the subscriber through the delay (no clock in the assertion).
    assert proxy.stats.delayed >= len(MESSAGES)


def test_blackhole_is_half_open_until_keepalive(
        proxied: tuple[FaultProxy, Callable[..., Client]]) -> None:
    proxy, client = proxied
    sub = client("sub", "t/#", keepalive=1)
    pub = client("pub")
    assert proxy.blackhole("sub") == 1
    pub.publish("t/x", [b"lost"])  # the broker believes it delivered (it sent it)
    # paho misses its PINGRESP, drops the connection and comes back on a new one (pass).
    wait_until(lambda: sub.disconnects >= 1 and sub.connects >= 2, 10,
               what="subscriber reconnecting after the blackhole")
    assert proxy.stats.blackholed >= 1
    pub.publish("t/x", [b"after"])
    wait_until(lambda: b"after" in sub.payloads(), 5, what="message after reconnect")
    assert b"lost" not in sub.payloads()


def test_reset_and_refuse(proxied: tuple[FaultProxy, Callable[..., Client]]) -> None:
    proxy, client = proxied
    sub = client("sub", "t/#")
    proxy.refuse("sub")
    assert proxy.reset("sub") == 1
    wait_until(lambda: sub.disconnects >= 1, 5, what="reset noticed")
    wait_until(lambda: proxy.stats.refused >= 2, 10, what="reconnections refused")
    assert not sub.client.is_connected()
    proxy.refuse("sub", on=False)
    wait_until(sub.client.is_connected, 10, what="reconnected once no longer refused")


def test_upstream_down_resets_the_client(broker: Broker) -> None:
    with FaultProxy(broker.port) as proxy:
        broker.kill()
        with socket.create_connection(("127.0.0.1", proxy.port), timeout=2) as sock:
            sock.sendall(connect_packet("lonely"))
            try:
                assert sock.recv(10) == b""
            except ConnectionResetError:
                pass
