"""Requests to central over MQTT and their replies: the store's side of ``protocol.requests``.

``Requester.call`` publishes a request on the store's ``rpc`` topic and waits for the reply
with its id on ``rpc/res``, until a deadline measured on this side's monotonic clock. It
returns the reply's body, raises ``RequestRefused`` when central answered no, and
``CentralUnreachable`` when no answer can come in time: not connected to the broker, central
known offline, the broker not taking the request, the connection lost while waiting (the
reply would be lost with it: clean sessions), or simply no answer by the deadline. The
caller acts on that (sell offline within a limit, say so to the cashier), and may ask again
under the same ``request_id``: central then answers once, with its first answer.

Never call it from a paho callback (it waits for the broker's PUBACK).
"""

from __future__ import annotations

import datetime as dt
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from protocol import messages, requests, topics
from protocol.encoding import WireError, dumps, loads
from transport.mqtt_link import Inbound, MqttLink

POLL = 0.1  # seconds between looks at the connection while waiting for a reply


class RequestFailed(Exception):
    """The request got no answer that the caller can use."""


class CentralUnreachable(RequestFailed):
    """No answer from central within the deadline (or none can come): act offline."""


class RequestRefused(RequestFailed):
    """Central answered, and refused: ``code`` is one of ``protocol.requests.ERROR_CODES``."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class _Waiter:
    def __init__(self) -> None:
        self.done = threading.Event()
        self.reply: dict[str, Any] | None = None


class Requester:
    """Asks central on behalf of one store over one link (subscribes to its replies)."""

    def __init__(self, link: MqttLink, store: str, *,
                 central_online: Callable[[], bool | None] | None = None) -> None:
        self.link = link
        self.store = store
        self.central_online = central_online
        self._waiters: dict[str, _Waiter] = {}
        self._lock = threading.Lock()
        link.subscribe(topics.store_rpc_reply(store), self._on_reply)

    def call(self, kind: str, body: dict[str, Any] | None = None, *, timeout: float,
             request_id: str | None = None) -> dict[str, Any]:
        """Central's answer to a request of ``kind`` within ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        payload = body or {}
        requests.read_request(kind, payload)  # a wrong request is our bug: WireError
        if not self.link.connected:
            raise CentralUnreachable("not connected to the broker")
        if self.central_online is not None and self.central_online() is False:
            raise CentralUnreachable("central is offline (its state on the broker)")
        request_id = request_id or uuid.uuid4().hex
        waiter = _Waiter()
        with self._lock:
            self._waiters[request_id] = waiter
        try:
            message = dumps(messages.envelope(
                "request", store=self.store, id=request_id, request=kind,
                ttl_ms=max(1, int(timeout * 1000)), body=payload,
                sent_at=dt.datetime.now(dt.UTC).isoformat()))
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not self.link.publish_and_wait(
                    topics.store_rpc(self.store), message, timeout=remaining):
                raise CentralUnreachable("the broker did not take the request in time")
            while not waiter.done.is_set():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise CentralUnreachable(f"no answer from central within {timeout:g} s")
                if not self.link.connected:
                    raise CentralUnreachable("the connection to the broker was lost while "
                                             "waiting for central's answer")
                waiter.done.wait(min(POLL, remaining))
        finally:
            with self._lock:
                self._waiters.pop(request_id, None)
        reply = waiter.reply
        assert reply is not None
        if not reply["ok"]:
            error = reply.get("error") or {"code": "failed", "message": "no reason given"}
            raise RequestRefused(error["code"], error["message"])
        try:
            return requests.read_reply(kind, reply.get("body") or {})
        except WireError as exc:
            raise RequestRefused("bad_request", f"central's answer is unreadable: {exc}") \
                from exc

    def _on_reply(self, message: Inbound) -> None:
        """Network thread: hand a reply to its waiting caller (others are late: dropped)."""
        try:
            reply = messages.parse(loads(message.payload), "reply")
        except WireError:
            return
        if reply["store"] != self.store:
            return
        with self._lock:
            waiter = self._waiters.get(reply["id"])
        if waiter is not None and reply["request"] in requests.KINDS:
            waiter.reply = reply
            waiter.done.set()
