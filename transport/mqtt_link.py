"""A thin, long-lived paho-mqtt client: MQTT v5, clean start, retained will, reconnects.

Subscriptions are (re)made in on_connect. Every inbound handler is wrapped so that one bad
message never kills the network loop. Handlers must not block on publish acknowledgements
(paho hangs if wait_for_publish is called in a callback): hand work to a worker thread.
"""

from __future__ import annotations

import logging
import random
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

log = logging.getLogger(__name__)

Handler = Callable[["Inbound"], None]


class BrokerConfig(Protocol):
    @property
    def host(self) -> str: ...
    @property
    def port(self) -> int: ...
    @property
    def username(self) -> str | None: ...
    @property
    def password(self) -> str | None: ...
    @property
    def tls(self) -> bool: ...
    @property
    def keepalive(self) -> int: ...


@dataclass(frozen=True)
class Inbound:
    """One received message; ``ack()`` confirms it to the broker (manual-ack links)."""

    topic: str
    payload: bytes
    retain: bool
    mid: int
    qos: int
    link: MqttLink = field(repr=False)

    def ack(self) -> None:
        self.link.ack(self)


@dataclass(frozen=True)
class Will:
    topic: str
    payload: bytes
    retain: bool = True


class MqttLink:
    """Owns one paho client and its network thread."""

    def __init__(self, broker: BrokerConfig, client_id: str, *, manual_ack: bool = False,
                 will: Will | None = None,
                 on_connected: Callable[[MqttLink], None] | None = None) -> None:
        self.broker = broker
        self.client_id = client_id
        self.manual_ack = manual_ack
        self._subscriptions: list[tuple[str, Handler, bool]] = []
        self._on_connected = on_connected
        self._connected = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id,
                                  protocol=mqtt.MQTTv5, manual_ack=manual_ack)
        self.client.max_inflight_messages_set(100)
        self.client.max_queued_messages_set(0)
        # paho's exponential backoff has no jitter; spreading the cap per client keeps a
        # fleet that lost its broker from reconnecting in lockstep.
        self.client.reconnect_delay_set(min_delay=1, max_delay=20 + random.randint(0, 10))
        if broker.username:
            self.client.username_pw_set(broker.username, broker.password)
        if broker.tls:
            # A private CA (TESSERA_BROKER_CA_FILE), else the system's trusted CAs.
            self.client.tls_set(ca_certs=getattr(broker, "ca_file", None),
                                tls_version=ssl.PROTOCOL_TLS_CLIENT)
        if will is not None:
            self.client.will_set(will.topic, will.payload, qos=1, retain=will.retain)
        self.client.on_connect = self._handle_connect
        self.client.on_disconnect = self._handle_disconnect
        self.client.on_message = self._handle_message

    # -- lifecycle --------------------------------------------------------------------------

    def subscribe(self, topic: str, handler: Handler, *, no_local: bool = False) -> None:
        """Register a subscription; it is (re)made on every connection."""
        self._subscriptions.append((topic, handler, no_local))
        if self._connected.is_set():
            self.client.subscribe(topic, options=SubscribeOptions(qos=1, noLocal=no_local))

    def start(self) -> None:
        """Connect in the background; paho keeps reconnecting until stop()."""
        self.client.connect_async(self.broker.host, self.broker.port,
                                  keepalive=self.broker.keepalive, clean_start=True)
        self.client.loop_start()

    def stop(self, farewell: tuple[str, bytes] | None = None) -> None:
        """Publish an optional farewell (the explicit death) and disconnect cleanly."""
        if farewell is not None and self._connected.is_set():
            info = self.client.publish(farewell[0], farewell[1], qos=1, retain=True)
            try:
                info.wait_for_publish(timeout=2)
            except (RuntimeError, ValueError):
                pass
        self.client.disconnect()
        self.client.loop_stop()

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def wait_connected(self, timeout: float) -> bool:
        return self._connected.wait(timeout)

    # -- traffic ----------------------------------------------------------------------------

    def publish(self, topic: str, payload: bytes, *, retain: bool = False) -> mqtt.MQTTMessageInfo:
        """Publish at QoS 1. The broker's PUBACK is not an application acknowledgement."""
        return self.client.publish(topic, payload, qos=1, retain=retain)

    def publish_and_wait(self, topic: str, payload: bytes, *, retain: bool = False,
                         timeout: float = 5.0) -> bool:
        """Publish and wait for the broker's PUBACK; never call from a paho callback."""
        info = self.publish(topic, payload, retain=retain)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            return False
        try:
            info.wait_for_publish(timeout=timeout)
        except (RuntimeError, ValueError):
            return False
        return info.is_published()

    def ack(self, message: Inbound) -> None:
        if self.manual_ack and message.qos > 0:
            self.client.ack(message.mid, message.qos)

    # -- paho callbacks ---------------------------------------------------------------------

    def _handle_connect(self, client: mqtt.Client, _userdata: Any, _flags: Any,
                        reason: ReasonCode, _props: Properties | None) -> None:
        if reason.is_failure:
            log.warning("%s: broker refused connection: %s", self.client_id, reason)
            return
        log.info("%s: connected to %s:%s", self.client_id, self.broker.host, self.broker.port)
        for topic, _handler, no_local in self._subscriptions:
            client.subscribe(topic, options=SubscribeOptions(qos=1, noLocal=no_local))
        self._connected.set()
        if self._on_connected is not None:
            try:
                self._on_connected(self)
            except Exception:
                log.exception("%s: on_connected hook failed", self.client_id)

    def _handle_disconnect(self, _client: mqtt.Client, _userdata: Any, _flags: Any,
                           reason: ReasonCode, _props: Properties | None) -> None:
        self._connected.clear()
        log.info("%s: disconnected (%s)", self.client_id, reason)

    def _handle_message(self, _client: mqtt.Client, _userdata: Any,
                        msg: mqtt.MQTTMessage) -> None:
        inbound = Inbound(topic=msg.topic, payload=bytes(msg.payload), retain=bool(msg.retain),
                          mid=msg.mid, qos=msg.qos, link=self)
        handled = False
        for pattern, handler, _ in self._subscriptions:
            if mqtt.topic_matches_sub(_strip_share(pattern), msg.topic):
                handled = True
                try:
                    handler(inbound)
                except Exception:
                    log.exception("%s: handler for %s failed on %s", self.client_id, pattern,
                                  msg.topic)
                break
        if not handled:
            log.warning("%s: message on unexpected topic %s", self.client_id, msg.topic)
            self.ack(inbound)


def _strip_share(pattern: str) -> str:
    if pattern.startswith("$share/"):
        return pattern.split("/", 2)[2]
    return pattern
