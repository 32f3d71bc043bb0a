"""MQTT packet framing for the fault proxy: cut a byte stream into whole packets and read
the few fields the faults need (packet type, PUBLISH topic/QoS/packet id, CONNECT client
id). Pure functions, MQTT 3.1.1 and 5."""

from __future__ import annotations

import struct
from dataclasses import dataclass

PUBLISH = 3
PUBACK = 4
CONNECT = 1
MAX_REMAINING = 268_435_455  # the largest remaining length MQTT can encode (4 bytes)


class FramingError(ValueError):
    """Bytes that are not an MQTT packet stream."""


def encode_remaining_length(n: int) -> bytes:
    if not 0 <= n <= MAX_REMAINING:
        raise FramingError(f"remaining length {n} out of range")
    out = bytearray()
    while True:
        byte, n = n % 128, n // 128
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def decode_remaining_length(buf: bytes | bytearray, start: int = 1) -> tuple[int, int] | None:
    """(value, bytes used) of the variable-length integer at ``start``; None if incomplete."""
    value = 0
    for i in range(4):
        if start + i >= len(buf):
            return None
        byte = buf[start + i]
        value += (byte & 0x7F) << (7 * i)
        if not byte & 0x80:
            return value, i + 1
    raise FramingError("remaining length longer than 4 bytes")


class Framer:
    """Cuts a byte stream into whole MQTT packets, whatever the read boundaries."""

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[bytes]:
        self._buf.extend(data)
        packets = []
        while True:
            if not self._buf:
                return packets
            header = decode_remaining_length(self._buf)
            if header is None:
                return packets
            length, used = header
            end = 1 + used + length
            if len(self._buf) < end:
                return packets
            packets.append(bytes(self._buf[:end]))
            del self._buf[:end]

    @property
    def pending(self) -> int:
        """Bytes of an incomplete packet held back."""
        return len(self._buf)


def packet_type(packet: bytes) -> int:
    return packet[0] >> 4


def _body(packet: bytes) -> bytes:
    header = decode_remaining_length(packet)
    assert header is not None
    return packet[1 + header[1]:]


def _string(body: bytes, pos: int) -> tuple[str, int]:
    (size,) = struct.unpack_from("!H", body, pos)
    return body[pos + 2:pos + 2 + size].decode("utf-8", errors="replace"), pos + 2 + size


@dataclass(frozen=True)
class PublishInfo:
    topic: str
    qos: int
    packet_id: int | None
    dup: bool
    retain: bool


def publish_info(packet: bytes) -> PublishInfo:
    """Topic, QoS and packet id of a PUBLISH (they come before any MQTT 5 properties)."""
    if packet_type(packet) != PUBLISH:
        raise FramingError("not a PUBLISH packet")
    flags = packet[0] & 0x0F
    qos = (flags >> 1) & 3
    body = _body(packet)
    topic, pos = _string(body, 0)
    packet_id = struct.unpack_from("!H", body, pos)[0] if qos else None
    return PublishInfo(topic, qos, packet_id, bool(flags & 8), bool(flags & 1))


def connect_client_id(packet: bytes) -> str:
    """The client id in a CONNECT packet (MQTT 3.1.1 or 5)."""
    if packet_type(packet) != CONNECT:
        raise FramingError("not a CONNECT packet")
    body = _body(packet)
    _name, pos = _string(body, 0)
    level = body[pos]
    pos += 1 + 1 + 2  # level, connect flags, keepalive
    if level == 5:
        header = decode_remaining_length(body, pos)
        if header is None:
            raise FramingError("truncated CONNECT properties")
        size, used = header
        pos += used + size
    client_id, _ = _string(body, pos)
    return client_id


def puback(packet_id: int) -> bytes:
    """A PUBACK with success (valid in MQTT 3.1.1 and 5)."""
    return bytes([PUBACK << 4, 2]) + struct.pack("!H", packet_id)


def with_dup_flag(packet: bytes) -> bytes:
    """The same PUBLISH marked as a redelivery (QoS > 0 only)."""
    return bytes([packet[0] | 0x08]) + packet[1:] if (packet[0] >> 1) & 3 else packet


def topic_matches(pattern: str, topic: str) -> bool:
    """MQTT topic filter matching (``+`` one level, ``#`` the rest)."""
    pat, top = pattern.split("/"), topic.split("/")
    for i, part in enumerate(pat):
        if part == "#":
            return True
        if i >= len(top) or (part != "+" and part != top[i]):
            return False
    return len(pat) == len(top)
