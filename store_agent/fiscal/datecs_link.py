"""The Datecs link layer: byte transports (TCP, serial) and one request/answer exchange.

A request keeps its SEQ for every retransmission: the device recognises the repeat, does
not execute the command again and repeats its last answer. That is what makes resending
after a timeout, a NAK or a corrupted answer safe. SYN means "busy, keep waiting".
"""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Callable
from typing import Protocol

import serial

from store_agent.fiscal.datecs_codec import (
    NAK,
    SYN,
    Dialect,
    Frame,
    FrameError,
    FrameReader,
    decode_answer,
    encode_request,
)
from store_agent.fiscal.device import DeviceUnavailable

log = logging.getLogger(__name__)

STATUS_COMMAND = 0x4A


class Transport(Protocol):
    def write(self, data: bytes) -> None:
        """Send bytes; raises ``OSError`` when the link is down."""
        ...

    def read(self, timeout: float) -> bytes:
        """Whatever arrives within ``timeout`` (b"" if nothing); ``OSError`` when down."""
        ...

    def discard_input(self) -> None: ...

    def reset(self) -> None:
        """Drop the connection; the next write reconnects."""
        ...

    def close(self) -> None: ...

    def describe(self) -> str: ...


class TcpTransport:
    """A printer (or a serial-to-LAN bridge, or the simulator) on a TCP port."""

    def __init__(self, host: str, port: int, connect_timeout: float = 2.0) -> None:
        self.host, self.port, self.connect_timeout = host, port, connect_timeout
        self._sock: socket.socket | None = None

    def _connected(self) -> socket.socket:
        if self._sock is None:
            sock = socket.create_connection((self.host, self.port), self.connect_timeout)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._sock = sock
        return self._sock

    def write(self, data: bytes) -> None:
        self._connected().sendall(data)

    def read(self, timeout: float) -> bytes:
        sock = self._connected()
        sock.settimeout(max(timeout, 0.001))
        try:
            chunk = sock.recv(4096)
        except TimeoutError:
            return b""
        if not chunk:
            self.reset()
            raise ConnectionResetError(f"{self.describe()} closed the connection")
        return chunk

    def discard_input(self) -> None:
        if self._sock is None:
            return
        self._sock.setblocking(False)
        try:
            while self._sock.recv(4096):
                pass
        except (BlockingIOError, InterruptedError):
            pass
        except OSError:
            self.reset()
            return
        self._sock.setblocking(True)

    def reset(self) -> None:
        if self._sock is not None:
            try:
                self._sock.close()
            finally:
                self._sock = None

    def close(self) -> None:
        self.reset()

    def describe(self) -> str:
        return f"tcp://{self.host}:{self.port}"


class SerialTransport:
    """A printer on a serial port (or any pyserial URL such as ``socket://``)."""

    def __init__(self, port: str, baudrate: int = 115200) -> None:
        self.port, self.baudrate = port, baudrate
        self._serial: serial.Serial | None = None

    def _opened(self) -> serial.Serial:
        if self._serial is None:
            try:
                self._serial = serial.serial_for_url(self.port, baudrate=self.baudrate,
                                                     timeout=0.1, write_timeout=2)
            except serial.SerialException as exc:
                raise ConnectionError(f"{self.describe()}: {exc}") from exc
        return self._serial

    def write(self, data: bytes) -> None:
        try:
            self._opened().write(data)
        except serial.SerialException as exc:
            self.reset()
            raise ConnectionError(str(exc)) from exc

    def read(self, timeout: float) -> bytes:
        port = self._opened()
        try:
            port.timeout = max(timeout, 0.001)
            first = bytes(port.read(1))
            if first and port.in_waiting:
                first += bytes(port.read(port.in_waiting))
            return first
        except serial.SerialException as exc:
            self.reset()
            raise ConnectionError(str(exc)) from exc

    def discard_input(self) -> None:
        if self._serial is not None:
            try:
                self._serial.reset_input_buffer()
            except serial.SerialException:
                self.reset()

    def reset(self) -> None:
        if self._serial is not None:
            try:
                self._serial.close()
            finally:
                self._serial = None

    def close(self) -> None:
        self.reset()

    def describe(self) -> str:
        return f"serial:{self.port}@{self.baudrate}"


class Link:
    """SEQ numbering and the retry rules for one device on one transport.

    Defaults follow the X manual and ErpNet.FP: an answer within 500 ms, at most 6 writes of
    one frame, at most 200 SYNs while the device is busy.
    """

    def __init__(self, transport: Transport, dialect: Dialect, *,
                 answer_timeout: float = 0.5, max_writes: int = 6, max_syn: int = 200,
                 reconnect_pause: float = 0.2,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.transport, self.dialect = transport, dialect
        self.answer_timeout, self.max_writes, self.max_syn = answer_timeout, max_writes, max_syn
        self.reconnect_pause = reconnect_pause
        self._clock, self._sleep = clock, sleep
        self._seq = 0x1F
        self._synced = False
        self.retransmissions = 0
        """How many frames were sent again (for tests and the doctor)."""

    def _next_seq(self) -> int:
        self._seq = 0x20 if self._seq >= self.dialect.max_seq else self._seq + 1
        return self._seq

    def request(self, cmd: int, data: bytes = b"") -> Frame:
        """Send one command and return its answer, or raise :class:`DeviceUnavailable`."""
        if not self._synced and cmd != STATUS_COMMAND:
            # A new link may start on the SEQ the device saw last: it would take our first
            # command for a repeat and answer the old one. A harmless status request first
            # moves past that SEQ whatever happens.
            self.request(STATUS_COMMAND)
        seq = self._next_seq()
        frame = encode_request(self.dialect, seq, cmd, data)
        problem = "no answer"
        for attempt in range(self.max_writes):
            if attempt:
                self.retransmissions += 1
            try:
                self.transport.discard_input()
                self.transport.write(frame)
                answer = self._await(seq, cmd)
            except OSError as exc:
                problem = f"link down ({exc})"
                self.transport.reset()
                self._sleep(self.reconnect_pause)
                continue
            if isinstance(answer, Frame):
                self._synced = True
                return answer
            problem = answer
            if problem == "stale":
                # The device took our SEQ for a repeat of its previous command (a new link
                # starting on the SEQ it last saw); it executed nothing: take a fresh SEQ.
                seq = self._next_seq()
                frame = encode_request(self.dialect, seq, cmd, data)
        raise DeviceUnavailable(f"{self.transport.describe()}: command {cmd:#04x}: {problem} "
                                f"after {self.max_writes} attempts")

    def _await(self, seq: int, cmd: int) -> Frame | str:
        """The answer, or why to send again: 'timeout', 'NAK', 'bad answer', 'stale'."""
        reader = FrameReader()
        syns = 0
        deadline = self._clock() + self.answer_timeout
        while True:
            remaining = deadline - self._clock()
            if remaining <= 0:
                return "timeout"
            chunk = self.transport.read(remaining)
            for event in reader.feed(chunk):
                if event == NAK:
                    return "NAK"
                if event == SYN:
                    syns += 1
                    if syns > self.max_syn:
                        raise DeviceUnavailable(f"{self.transport.describe()}: busy "
                                                f"(more than {self.max_syn} SYN)")
                    deadline = self._clock() + self.answer_timeout
                    continue
                assert isinstance(event, bytes)
                try:
                    answer = decode_answer(self.dialect, event)
                except FrameError as exc:
                    log.warning("bad answer to %#04x: %s", cmd, exc)
                    return "bad answer"
                if answer.seq != seq:
                    continue      # a late answer to an earlier frame
                if answer.cmd != cmd:
                    return "stale"
                return answer
