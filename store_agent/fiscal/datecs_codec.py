"""Datecs frames, checksums and status bytes: pure functions shared by driver and simulator.

Host to device: ``01 LEN SEQ CMD DATA 05 BCC 03``; device to host:
``01 LEN SEQ CMD DATA 04 STATUS 05 BCC 03``. LEN counts 0x20 + the bytes after ``01`` up to
and including ``05``. The BCC is the 16-bit sum of those same bytes, sent as four nibbles
each + 0x30.

- ``BYTE`` dialect (DP-25, FP-550, FP-2000, ...): LEN and CMD are one byte each, SEQ runs
  0x20..0x7F, STATUS is 6 bytes, parameters are comma-separated.
- ``X`` dialect (FP-700X, DP-25X, ...): LEN and CMD are four nibbles each + 0x30, SEQ runs
  0x20..0xFF, STATUS is 8 bytes, every parameter ends with TAB and answers start with the
  error code. A data byte below 0x20 other than TAB travels as ``10h, c+40h``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from store_agent.fiscal.device import DeviceStatus, StatusFlag

PRE, EOT, SEP, PST = 0x01, 0x03, 0x04, 0x05
NAK, SYN = 0x15, 0x16
ESCAPE = 0x10
TAB = 0x09


class Dialect(enum.Enum):
    BYTE = "byte"
    X = "x"

    @property
    def status_size(self) -> int:
        return 6 if self is Dialect.BYTE else 8

    @property
    def max_seq(self) -> int:
        return 0x7F if self is Dialect.BYTE else 0xFF

    @property
    def field_size(self) -> int:
        """Bytes of LEN and of CMD."""
        return 1 if self is Dialect.BYTE else 4


class FrameError(ValueError):
    """Bytes that are not a valid frame of the expected dialect (the answer is a NAK)."""


@dataclass(frozen=True)
class Frame:
    seq: int
    cmd: int
    data: bytes
    status: bytes | None = None
    """Only in answers."""


def nibbles(value: int, count: int = 4) -> bytes:
    """``value`` as ``count`` hex nibbles, most significant first, each + 0x30."""
    if not 0 <= value < 16 ** count:
        raise ValueError(f"{value} does not fit in {count} nibbles")
    return bytes(0x30 + ((value >> (4 * i)) & 0xF) for i in reversed(range(count)))


def from_nibbles(raw: bytes) -> int:
    value = 0
    for byte in raw:
        if not 0x30 <= byte <= 0x3F:
            raise FrameError(f"{byte:#04x} is not a nibble")
        value = (value << 4) | (byte - 0x30)
    return value


def bcc(body: bytes) -> bytes:
    """Checksum of ``body`` (the bytes after ``01`` up to and including ``05``)."""
    return nibbles(sum(body) & 0xFFFF)


def escape(data: bytes) -> bytes:
    """X dialect: bytes below 0x20 (TAB excepted, it separates parameters) become 10h, c+40h."""
    out = bytearray()
    for byte in data:
        if byte < 0x20 and byte != TAB:
            out += bytes((ESCAPE, byte + 0x40))
        else:
            out.append(byte)
    return bytes(out)


def unescape(data: bytes) -> bytes:
    out = bytearray()
    it = iter(data)
    for byte in it:
        if byte == ESCAPE:
            nxt = next(it, None)
            if nxt is None or nxt < 0x40:
                raise FrameError("dangling escape byte")
            out.append(nxt - 0x40)
        else:
            out.append(byte)
    return bytes(out)


def _field(dialect: Dialect, value: int) -> bytes:
    return bytes((value,)) if dialect is Dialect.BYTE else nibbles(value)


def _check_seq(dialect: Dialect, seq: int) -> None:
    if not 0x20 <= seq <= dialect.max_seq:
        raise ValueError(f"SEQ {seq:#04x} outside 0x20..{dialect.max_seq:#04x}")


def _wrap(dialect: Dialect, seq: int, cmd: int, payload: bytes) -> bytes:
    _check_seq(dialect, seq)
    size = dialect.field_size
    length = 0x20 + size + 1 + size + len(payload) + 1
    if dialect is Dialect.BYTE and length > 0xFF:
        raise ValueError("data too long for one frame")
    body = _field(dialect, length) + bytes((seq,)) + _field(dialect, cmd) + payload + b"\x05"
    return b"\x01" + body + bcc(body) + b"\x03"


def encode_request(dialect: Dialect, seq: int, cmd: int, data: bytes) -> bytes:
    """The frame the host sends."""
    return _wrap(dialect, seq, cmd, escape(data) if dialect is Dialect.X else data)


def encode_answer(dialect: Dialect, seq: int, cmd: int, data: bytes, status: bytes) -> bytes:
    """The frame the device sends back."""
    if len(status) != dialect.status_size:
        raise ValueError(f"status must be {dialect.status_size} bytes")
    payload = (escape(data) if dialect is Dialect.X else data) + b"\x04" + status
    return _wrap(dialect, seq, cmd, payload)


def _unwrap(dialect: Dialect, frame: bytes) -> tuple[int, int, bytes]:
    if len(frame) < 10 or frame[0] != PRE or frame[-1] != EOT:
        raise FrameError("not a frame")
    body, checksum = frame[1:-5], frame[-5:-1]
    if not body or body[-1] != PST:
        raise FrameError("no 05 before the checksum")
    if bcc(body) != checksum:
        raise FrameError("bad checksum")
    size = dialect.field_size
    if len(body) < 2 * size + 2:
        raise FrameError("frame too short")
    length = body[0] if dialect is Dialect.BYTE else from_nibbles(body[:4])
    if length != 0x20 + len(body):
        raise FrameError(f"length field says {length - 0x20}, frame has {len(body)}")
    seq = body[size]
    if not 0x20 <= seq <= dialect.max_seq:
        raise FrameError(f"SEQ {seq:#04x} out of range")
    cmd = body[size + 1] if dialect is Dialect.BYTE else from_nibbles(body[size + 1:size + 5])
    return seq, cmd, body[2 * size + 1:-1]


def decode_request(dialect: Dialect, frame: bytes) -> Frame:
    seq, cmd, payload = _unwrap(dialect, frame)
    return Frame(seq, cmd, unescape(payload) if dialect is Dialect.X else payload)


def decode_answer(dialect: Dialect, frame: bytes) -> Frame:
    seq, cmd, payload = _unwrap(dialect, frame)
    size = dialect.status_size
    if len(payload) < size + 1 or payload[-size - 1] != SEP:
        raise FrameError("no status block")
    data, status = payload[:-size - 1], payload[-size:]
    return Frame(seq, cmd, unescape(data) if dialect is Dialect.X else data, status)


class FrameReader:
    """Splits a byte stream into frames, NAKs and SYNs; noise between frames is dropped."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, chunk: bytes) -> list[bytes | int]:
        """Complete frames (bytes) and single NAK / SYN bytes (ints), in arrival order."""
        self._buffer += chunk
        events: list[bytes | int] = []
        while self._buffer:
            first = self._buffer[0]
            if first in (NAK, SYN):
                events.append(first)
                del self._buffer[0]
            elif first == PRE:
                end = self._buffer.find(EOT)
                if end < 0:
                    break
                events.append(bytes(self._buffer[:end + 1]))
                del self._buffer[:end + 1]
            else:
                del self._buffer[0]
        return events


# -- status bytes ----------------------------------------------------------------------------

_COMMON_BITS: dict[tuple[int, int], StatusFlag] = {
    (0, 0): StatusFlag.SYNTAX_ERROR, (0, 1): StatusFlag.INVALID_COMMAND,
    (0, 2): StatusFlag.CLOCK_NOT_SET, (0, 5): StatusFlag.GENERAL_ERROR,
    (1, 0): StatusFlag.OVERFLOW, (1, 1): StatusFlag.NOT_ALLOWED,
    (2, 0): StatusFlag.PAPER_OUT, (2, 2): StatusFlag.EJ_FULL, (2, 3): StatusFlag.RECEIPT_OPEN,
    (2, 4): StatusFlag.EJ_NEAR_FULL, (2, 5): StatusFlag.NONFISCAL_OPEN,
    (4, 0): StatusFlag.FM_WRITE_ERROR, (4, 3): StatusFlag.FM_NEAR_FULL,
    (4, 4): StatusFlag.FM_FULL, (4, 5): StatusFlag.FM_ERROR,
    (5, 3): StatusFlag.FISCALISED, (5, 4): StatusFlag.VAT_RATES_SET,
}
STATUS_BITS: dict[str, dict[tuple[int, int], StatusFlag]] = {
    # X manual v2.02, "Status bits" (pp. 46-47): 8 bytes.
    "x": {**_COMMON_BITS, (0, 4): StatusFlag.PRINTER_FAULT, (0, 6): StatusFlag.COVER_OPEN,
          (2, 1): StatusFlag.PAPER_NEAR_END, (4, 0): StatusFlag.FM_ERROR,
          (4, 6): StatusFlag.FM_ERROR},
    # Printers manual v1.00BG, "Fiscal printer status bits" (pp. 4-5): 6 bytes; byte 3 holds
    # the configuration switches and is not decoded.
    "printer": {**_COMMON_BITS, (0, 3): StatusFlag.NO_DISPLAY, (0, 4): StatusFlag.PRINTER_FAULT,
                (0, 6): StatusFlag.COVER_OPEN, (1, 2): StatusFlag.RAM_RESET,
                (1, 3): StatusFlag.LOW_BATTERY, (1, 4): StatusFlag.REFUND_OPEN,
                (1, 6): StatusFlag.TAX_TERMINAL, (2, 1): StatusFlag.PAPER_NEAR_END,
                (4, 6): StatusFlag.HEAD_OVERHEATED, (5, 0): StatusFlag.FM_READ_ONLY,
                (5, 2): StatusFlag.FM_WRITE_ERROR, (5, 5): StatusFlag.FM_ERROR},
    # Cash registers manual v2.04BG, "Статус битове на ФУ" (p. 3): 6 bytes; no cover,
    # printing-unit, near-paper-end, battery or refund bits.
    "register": {**_COMMON_BITS, (0, 3): StatusFlag.NO_DISPLAY,
                 (1, 5): StatusFlag.UNSENT_DOCUMENTS, (1, 6): StatusFlag.TAX_TERMINAL},
}
"""Family -> (byte, bit) -> flag."""
DEFAULT_FAMILY = {Dialect.X: "x", Dialect.BYTE: "printer"}


def decode_status(dialect: Dialect, raw: bytes, family: str | None = None) -> DeviceStatus:
    if len(raw) != dialect.status_size:
        raise FrameError(f"status must be {dialect.status_size} bytes, got {len(raw)}")
    table = STATUS_BITS[family or DEFAULT_FAMILY[dialect]]
    flags = frozenset(flag for (index, bit), flag in table.items() if raw[index] >> bit & 1)
    return DeviceStatus(flags, bytes(raw))


def encode_status(dialect: Dialect, flags: frozenset[StatusFlag],
                  family: str | None = None) -> bytes:
    """The status bytes a device with ``flags`` sends (bit 7 always set; used by the simulator).

    General error (S0.5) is set whenever an error flag is. A flag the family has no bit for
    is not sent.
    """
    raw = bytearray([0x80] * dialect.status_size)
    table = STATUS_BITS[family or DEFAULT_FAMILY[dialect]]
    wanted = set(flags)
    if any(f.severity.value == "error" for f in flags):
        wanted.add(StatusFlag.GENERAL_ERROR)
    for (index, bit), flag in table.items():
        if flag in wanted:
            raw[index] |= 1 << bit
    return bytes(raw)
