"""Datecs framing, checksums, escaping and status bytes, against the documented vectors."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from store_agent.fiscal.datecs_codec import (
    NAK,
    SYN,
    Dialect,
    FrameError,
    FrameReader,
    bcc,
    decode_answer,
    decode_request,
    decode_status,
    encode_answer,
    encode_request,
    encode_status,
    escape,
    nibbles,
    unescape,
)
from store_agent.fiscal.datecs_syntax import quantity, split
from store_agent.fiscal.device import StatusFlag

BYTE_STATUS_74 = bytes.fromhex("01 25 20 4A 58 05 30 30 3E 3C 03")
X_STATUS_74 = bytes.fromhex("01 30 30 32 3A 20 30 30 34 3A 05 30 31 3B 3F 03")


def test_the_documented_1_byte_vector() -> None:
    assert encode_request(Dialect.BYTE, 0x20, 74, b"X") == BYTE_STATUS_74
    frame = decode_request(Dialect.BYTE, BYTE_STATUS_74)
    assert (frame.seq, frame.cmd, frame.data) == (0x20, 74, b"X")


def test_the_documented_x_vector() -> None:
    assert encode_request(Dialect.X, 0x20, 74, b"") == X_STATUS_74
    frame = decode_request(Dialect.X, X_STATUS_74)
    assert (frame.seq, frame.cmd, frame.data) == (0x20, 74, b"")


def test_nibbles_as_in_the_manual() -> None:
    assert nibbles(0x1AE3) == bytes.fromhex("31 3A 3E 33")
    assert bcc(bytes.fromhex("25 20 4A 58 05")) == b"00><"


@pytest.mark.parametrize("dialect, size", [(Dialect.BYTE, 6), (Dialect.X, 8)])
def test_an_answer_carries_the_status_block(dialect: Dialect, size: int) -> None:
    status = encode_status(dialect, frozenset({StatusFlag.RECEIPT_OPEN}))
    assert len(status) == size and all(b & 0x80 for b in status)
    frame = encode_answer(dialect, 0x21, 0x30, b"12,3", status)
    # LEN = 0x20 + everything after 01 up to and including 05.
    length = frame[1] if dialect is Dialect.BYTE else int(frame[1:5].hex()[1::2], 16)
    assert length == 0x20 + len(frame) - 6
    answer = decode_answer(dialect, frame)
    assert (answer.seq, answer.cmd, answer.data, answer.status) == (0x21, 0x30, b"12,3", status)
    assert decode_status(dialect, status).receipt_open


@pytest.mark.parametrize("dialect", list(Dialect))
def test_a_corrupted_frame_is_refused(dialect: Dialect) -> None:
    frame = bytearray(encode_request(dialect, 0x22, 0x31, b"Bread"))
    frame[-6] ^= 0x01
    with pytest.raises(FrameError, match="checksum"):
        decode_request(dialect, bytes(frame))
    good = encode_request(dialect, 0x22, 0x31, b"Bread")
    with pytest.raises(FrameError):
        decode_request(dialect, good[:-2] + b"\x03")


def test_each_dialect_refuses_the_other() -> None:
    with pytest.raises(FrameError):
        decode_request(Dialect.X, BYTE_STATUS_74)
    with pytest.raises(FrameError):
        decode_request(Dialect.BYTE, X_STATUS_74)


def test_seq_ranges() -> None:
    with pytest.raises(ValueError):
        encode_request(Dialect.BYTE, 0x80, 74, b"")
    assert encode_request(Dialect.X, 0xFF, 74, b"")


def test_x_escapes_control_bytes_but_not_tab() -> None:
    assert escape(b"a\tb\x03c\x10") == b"a\tb\x10\x43c\x10\x50"
    frame = encode_request(Dialect.X, 0x20, 0x36, b"x\x03y\t")
    assert b"\x03" not in frame[1:-1]
    assert decode_request(Dialect.X, frame).data == b"x\x03y\t"


@given(st.binary(max_size=200))
def test_escaping_round_trips(data: bytes) -> None:
    assert unescape(escape(data)) == data


@given(st.sampled_from(list(Dialect)), st.integers(0x20, 0x7F), st.integers(0x20, 0x7F),
       st.binary(max_size=150).map(lambda b: bytes(c | 0x20 for c in b)))
def test_requests_round_trip(dialect: Dialect, seq: int, cmd: int, data: bytes) -> None:
    assert decode_request(dialect, encode_request(dialect, seq, cmd, data)).data == data


@pytest.mark.parametrize("dialect, raw, expected", [
    (Dialect.BYTE, "80 80 81 80 80 80", {StatusFlag.PAPER_OUT}),
    (Dialect.BYTE, "c0 80 80 80 80 80", {StatusFlag.COVER_OPEN}),
    (Dialect.BYTE, "80 82 80 80 80 80", {StatusFlag.NOT_ALLOWED}),
    (Dialect.BYTE, "80 90 88 80 80 80", {StatusFlag.REFUND_OPEN, StatusFlag.RECEIPT_OPEN}),
    (Dialect.BYTE, "80 80 80 80 90 80", {StatusFlag.FM_FULL}),
    (Dialect.BYTE, "80 80 80 80 88 81", {StatusFlag.FM_NEAR_FULL, StatusFlag.FM_READ_ONLY}),
    (Dialect.X, "80 80 82 80 80 80 80 80", {StatusFlag.PAPER_NEAR_END}),
    (Dialect.X, "81 80 80 80 80 80 80 80", {StatusFlag.SYNTAX_ERROR}),
    (Dialect.X, "80 80 a0 80 80 98 80 80",
     {StatusFlag.NONFISCAL_OPEN, StatusFlag.FISCALISED, StatusFlag.VAT_RATES_SET}),
    (Dialect.X, "80 80 80 80 90 80 80 80", {StatusFlag.FM_FULL}),
])
def test_status_bits_decode_into_flags(dialect: Dialect, raw: str,
                                       expected: set[StatusFlag]) -> None:
    assert set(decode_status(dialect, bytes.fromhex(raw)).flags) == expected


def test_status_errors_read_as_sentences() -> None:
    status = decode_status(Dialect.BYTE, bytes.fromhex("e0 80 83 80 80 80"))
    assert status.errors == ("the printer cover is open", "out of paper")
    assert status.warnings == ("paper nearly out",)
    assert not status.can_print


@pytest.mark.parametrize("dialect", list(Dialect))
def test_status_encoding_round_trips(dialect: Dialect) -> None:
    flags = frozenset({StatusFlag.PAPER_OUT, StatusFlag.RECEIPT_OPEN, StatusFlag.FM_FULL})
    decoded = decode_status(dialect, encode_status(dialect, flags)).flags
    assert decoded == flags | {StatusFlag.GENERAL_ERROR}


def test_the_reader_splits_frames_syn_and_nak() -> None:
    reader = FrameReader()
    stream = bytes((SYN, SYN)) + X_STATUS_74 + bytes((NAK,)) + b"noise" + BYTE_STATUS_74
    events = reader.feed(stream[:7]) + reader.feed(stream[7:])
    assert events == [SYN, SYN, X_STATUS_74, NAK, BYTE_STATUS_74]


def test_answer_fields() -> None:
    assert split(Dialect.X, "0\t12\t") == (0, ["12"])
    assert split(Dialect.X, "-100403\t") == (-100403, [])
    assert split(Dialect.BYTE, "12,3") == (None, ["12", "3"])
    assert quantity(Decimal("2.500")) == "2.5"
