"""A TCP fault proxy that understands MQTT framing, for the fault-injection tests.

It sits between MQTT clients (agents, central's processes) and the real Mosquitto and runs
its own asyncio loop in a thread of the test process. Every connection is cut into whole
MQTT packets (fixed header + remaining length), so faults never corrupt framing:

- ``pass``       forward everything;
- ``delay``      hold every packet ``delay_ms`` before forwarding it (order kept);
- ``drop``       discard PUBLISH packets (optionally of one topic filter, the first ``count``
                 of them); for QoS 1 the proxy answers the sender with a PUBACK, as a broker
                 that lost the message would, so nobody's in-flight window stays blocked;
- ``duplicate``  forward PUBLISH packets twice (with ``delay_ms``, the copy comes that much
                 later, after packets that followed it: a late redelivery);
- ``reorder``    hold PUBLISH packets back ``delay_ms`` while later packets pass them;
- ``blackhole``  keep the connection but forward nothing (a half-open TCP connection): when
                 one side closes, the other is left open until its own keepalive gives up.

Faults apply per connection and per direction (``up``: client to broker, ``down``: broker
to client, ``both``) and can be switched while traffic flows. Connections are named by the
MQTT client id of their CONNECT packet, so a fault can target one store. ``reset`` sends an
RST on both sides of matching connections (SO_LINGER 0); ``refuse`` resets new connections
of matching clients before they reach the broker.
"""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import socket
import struct
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from tests.faults.framing import (
    CONNECT,
    PUBLISH,
    Framer,
    FramingError,
    connect_client_id,
    packet_type,
    puback,
    publish_info,
    topic_matches,
    with_dup_flag,
)

UP, DOWN, BOTH = "up", "down", "both"
MODES = ("pass", "delay", "drop", "duplicate", "reorder", "blackhole")


# -- faults ---------------------------------------------------------------------------------

@dataclass
class Fault:
    """What to do with one direction (or both) of matching connections."""

    mode: str = "pass"
    direction: str = BOTH
    delay_ms: float = 0.0
    topic: str | None = None   # drop/duplicate only PUBLISH packets of this topic filter
    count: int | None = None   # drop/duplicate only this many packets (None: all)
    contains: bytes | None = None  # only PUBLISH packets with these bytes (in the payload)
    fake_puback: bool = True   # answer a dropped QoS 1 PUBLISH so the sender's window moves

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"unknown mode {self.mode!r}")
        if self.direction not in (UP, DOWN, BOTH):
            raise ValueError(f"unknown direction {self.direction!r}")

    def applies(self, direction: str) -> bool:
        return self.direction in (BOTH, direction)

    def take(self, packet: bytes) -> bool:
        """Whether this packet is one the fault acts on (and count it)."""
        if packet_type(packet) != PUBLISH:
            return False
        if self.topic is not None and not topic_matches(self.topic, publish_info(packet).topic):
            return False
        if self.contains is not None and self.contains not in packet:
            return False
        if self.count is not None:
            if self.count <= 0:
                return False
            self.count -= 1
        return True


PASS = Fault()


@dataclass
class Stats:
    connections: int = 0
    refused: int = 0
    resets: int = 0
    forwarded: int = 0
    dropped: int = 0
    duplicated: int = 0
    reordered: int = 0
    blackholed: int = 0
    delayed: int = 0
    dropped_topics: list[str] = field(default_factory=list)


def _rst(writer: asyncio.StreamWriter | None) -> None:
    if writer is None:
        return
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


class Connection:
    """One client connection and its upstream connection to the broker."""

    def __init__(self, proxy: FaultProxy, number: int, client_reader: asyncio.StreamReader,
                 client_writer: asyncio.StreamWriter) -> None:
        self.proxy = proxy
        self.number = number
        self.client_id: str | None = None
        self.faults: dict[str, Fault] = {UP: PASS, DOWN: PASS}
        self.client_reader = client_reader
        self.client_writer = client_writer
        self.broker_writer: asyncio.StreamWriter | None = None
        self.closed = False
        self._half_closed = 0

    def __repr__(self) -> str:
        return f"<Connection {self.number} {self.client_id} {self.faults}>"

    def set_fault(self, fault: Fault) -> None:
        for direction in (UP, DOWN):
            if fault.applies(direction):
                self.faults[direction] = fault

    def writer_for(self, direction: str) -> asyncio.StreamWriter | None:
        return self.broker_writer if direction == UP else self.client_writer

    def reset(self) -> None:
        self.closed = True
        _rst(self.client_writer)
        _rst(self.broker_writer)

    async def run(self) -> None:
        framer = Framer()
        try:
            first: list[bytes] = []
            while not first:
                data = await self.client_reader.read(65536)
                if not data:
                    self.client_writer.close()
                    return
                first = framer.feed(data)
            if packet_type(first[0]) == CONNECT:
                self.client_id = connect_client_id(first[0])
            if self.proxy.refusing(self.client_id):
                self.proxy.stats.refused += 1
                self.reset()
                return
            try:
                broker_reader, self.broker_writer = await asyncio.open_connection(
                    self.proxy.upstream_host, self.proxy.upstream_port)
            except OSError:
                self.reset()
                return
            self.faults = {UP: self.proxy.rule_for(self.client_id, UP),
                           DOWN: self.proxy.rule_for(self.client_id, DOWN)}
            self.proxy.register(self)
            up_queue: asyncio.Queue[tuple[float, bytes] | None] = asyncio.Queue()
            down_queue: asyncio.Queue[tuple[float, bytes] | None] = asyncio.Queue()
            for packet in first:
                up_queue.put_nowait((0.0, packet))
            tasks = [
                asyncio.create_task(self._read(self.client_reader, UP, up_queue, down_queue,
                                               framer)),
                asyncio.create_task(self._read(broker_reader, DOWN, down_queue, up_queue,
                                               Framer())),
                asyncio.create_task(self._write(UP, up_queue)),
                asyncio.create_task(self._write(DOWN, down_queue)),
            ]
            await asyncio.gather(*tasks, return_exceptions=True)
        finally:
            self.proxy.unregister(self)

    async def _read(self, reader: asyncio.StreamReader, direction: str,
                    queue: asyncio.Queue[tuple[float, bytes] | None],
                    back: asyncio.Queue[tuple[float, bytes] | None], framer: Framer) -> None:
        stats = self.proxy.stats
        try:
            while True:
                try:
                    data = await reader.read(65536)
                except (ConnectionError, OSError):
                    data = b""
                if not data:
                    break
                for packet in framer.feed(data):
                    fault = self.faults[direction]
                    if fault.mode == "blackhole":
                        stats.blackholed += 1
                        continue
                    if fault.mode == "drop" and fault.take(packet):
                        info = publish_info(packet)
                        stats.dropped += 1
                        stats.dropped_topics.append(info.topic)
                        if info.qos == 1 and fault.fake_puback and info.packet_id is not None:
                            back.put_nowait((0.0, puback(info.packet_id)))
                        continue
                    if fault.mode == "reorder" and fault.take(packet):
                        stats.reordered += 1
                        self._later(fault.delay_ms, queue, packet)
                        continue
                    due = time.monotonic() + (fault.delay_ms / 1000.0
                                              if fault.mode == "delay" else 0.0)
                    if fault.mode == "delay" and fault.delay_ms:
                        stats.delayed += 1
                    queue.put_nowait((due, packet))
                    stats.forwarded += 1
                    if fault.mode == "duplicate" and fault.take(packet):
                        stats.duplicated += 1
                        if fault.delay_ms:
                            self._later(fault.delay_ms, queue, with_dup_flag(packet))
                        else:
                            queue.put_nowait((due, with_dup_flag(packet)))
        except FramingError:
            self.reset()
        # EOF: close the other side, unless this connection is half-open on purpose (then
        # the other side stays open until it gives up by itself).
        if self.faults[direction].mode != "blackhole":
            queue.put_nowait(None)
            return
        self._half_closed += 1
        if self._half_closed == 2:
            queue.put_nowait(None)
            back.put_nowait(None)

    def _later(self, delay_ms: float, queue: asyncio.Queue[tuple[float, bytes] | None],
               packet: bytes) -> None:
        """Queue ``packet`` after ``delay_ms``, behind whatever was queued meanwhile."""
        def put() -> None:
            if not self.closed:
                queue.put_nowait((0.0, packet))
        asyncio.get_running_loop().call_later(delay_ms / 1000.0, put)

    async def _write(self, direction: str,
                     queue: asyncio.Queue[tuple[float, bytes] | None]) -> None:
        writer = self.writer_for(direction)
        assert writer is not None
        while True:
            item = await queue.get()
            if item is None:
                break
            due, packet = item
            wait = due - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            if self.closed or writer.is_closing():
                break
            writer.write(packet)
            try:
                await writer.drain()
            except (ConnectionError, OSError):
                break
        if not self.closed:
            # A clean close of one side ends the whole connection.
            self.closed = True
            for w in (self.client_writer, self.broker_writer):
                if w is not None:
                    w.close()


class FaultProxy:
    """Listens on a loopback port and forwards to ``upstream``; controlled from any thread."""

    def __init__(self, upstream_port: int, upstream_host: str = "127.0.0.1",
                 listen_port: int = 0) -> None:
        self.upstream_host = upstream_host
        self.upstream_port = upstream_port
        self.port = listen_port
        self.stats = Stats()
        self._rules: dict[str, dict[str, Fault]] = {}
        self._refuse: set[str] = set()
        self._connections: set[Connection] = set()
        self._numbers = 0
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="fault-proxy",
                                        daemon=True)
        self._server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> FaultProxy:
        self._thread.start()
        self._server = self._call(asyncio.start_server(self._accept, "127.0.0.1", self.port,
                                                       reuse_address=True))
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def stop(self) -> None:
        if not self._thread.is_alive():
            return

        async def shutdown() -> None:
            if self._server is not None:
                self._server.close()
            for conn in list(self._connections):
                conn.reset()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        self._call(shutdown())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def _call(self, coro):  # type: ignore[no-untyped-def]
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(10)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with self._lock:
            self._numbers += 1
            number = self._numbers
        self.stats.connections += 1
        await Connection(self, number, reader, writer).run()

    # -- bookkeeping (loop thread) ----------------------------------------------------------

    def register(self, conn: Connection) -> None:
        with self._lock:
            self._connections.add(conn)

    def unregister(self, conn: Connection) -> None:
        with self._lock:
            self._connections.discard(conn)

    def refusing(self, client_id: str | None) -> bool:
        with self._lock:
            return any(fnmatch.fnmatchcase(client_id or "", pattern) for pattern in self._refuse)

    def rule_for(self, client_id: str | None, direction: str) -> Fault:
        with self._lock:
            for pattern, faults in self._rules.items():
                if fnmatch.fnmatchcase(client_id or "", pattern) and direction in faults:
                    return faults[direction]
        return PASS

    def _matching(self, clients: str) -> Iterator[Connection]:
        with self._lock:
            conns = list(self._connections)
        return (c for c in conns if fnmatch.fnmatchcase(c.client_id or "", clients))

    # -- control (any thread) ---------------------------------------------------------------

    def connections(self, clients: str = "*") -> list[str]:
        """Client ids of the open connections matching ``clients`` (fnmatch pattern)."""
        return sorted(c.client_id or "?" for c in self._matching(clients))

    def set(self, fault: Fault, clients: str = "*", *, future: bool = True) -> None:
        """Apply ``fault`` to the open connections of ``clients`` and, if ``future``, to
        their later connections too. One Fault object (and its count) is shared."""
        if future:
            with self._lock:
                rules = self._rules.setdefault(clients, {})
                for direction in (UP, DOWN):
                    if fault.applies(direction):
                        rules[direction] = fault
        for conn in self._matching(clients):
            conn.set_fault(fault)

    def clear(self, clients: str = "*") -> None:
        """Back to ``pass`` for open and later connections of ``clients``; stop refusing."""
        with self._lock:
            for pattern in [p for p in self._rules if fnmatch.fnmatchcase(p, clients)
                            or p == clients]:
                del self._rules[pattern]
            self._refuse = {p for p in self._refuse
                            if not (fnmatch.fnmatchcase(p, clients) or p == clients)}
        for conn in self._matching(clients):
            conn.set_fault(PASS)

    def delay(self, ms: float, clients: str = "*", direction: str = BOTH) -> Fault:
        fault = Fault("delay", direction, delay_ms=ms)
        self.set(fault, clients)
        return fault

    def drop(self, clients: str = "*", direction: str = DOWN, topic: str | None = None,
             count: int | None = None, contains: bytes | None = None) -> Fault:
        fault = Fault("drop", direction, topic=topic, count=count, contains=contains)
        self.set(fault, clients)
        return fault

    def duplicate(self, clients: str = "*", direction: str = BOTH, topic: str | None = None,
                  count: int | None = None, late_ms: float = 0.0,
                  contains: bytes | None = None) -> Fault:
        fault = Fault("duplicate", direction, topic=topic, count=count, delay_ms=late_ms,
                      contains=contains)
        self.set(fault, clients)
        return fault

    def reorder(self, ms: float, clients: str = "*", direction: str = BOTH,
                topic: str | None = None, count: int | None = None,
                contains: bytes | None = None) -> Fault:
        fault = Fault("reorder", direction, delay_ms=ms, topic=topic, count=count,
                      contains=contains)
        self.set(fault, clients)
        return fault

    def blackhole(self, clients: str = "*", direction: str = BOTH) -> int:
        """Make the open connections of ``clients`` half-open; later connections pass.
        Returns how many connections were blackholed."""
        conns = list(self._matching(clients))
        for conn in conns:
            conn.set_fault(Fault("blackhole", direction))
        return len(conns)

    def reset(self, clients: str = "*") -> int:
        """RST both sides of the open connections of ``clients``; returns how many."""
        conns = list(self._matching(clients))

        async def do() -> None:
            for conn in conns:
                conn.reset()

        self._call(do())
        self.stats.resets += len(conns)
        return len(conns)

    def refuse(self, clients: str = "*", on: bool = True) -> None:
        """Reset new connections of ``clients`` (open ones are left alone: see reset)."""
        with self._lock:
            if on:
                self._refuse.add(clients)
            else:
                self._refuse.discard(clients)
