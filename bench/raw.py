"""The raw limit: paho QoS 1 messages per second through the same broker, no application.

One publisher and one subscriber, each a bare paho client (MQTT v5, like ``MqttLink``,
in-flight window 100). The publisher keeps its window full; the rate counts messages the
subscriber received. Payload sizes: a tiny one and one like a 100-sale batch.
"""

from __future__ import annotations

import json
import multiprocessing
import threading
import time
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from protocol import topics

TOPIC = f"{topics.ROOT}/bench/raw"


def _client(client_id: str) -> mqtt.Client:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    client.max_inflight_messages_set(100)
    client.max_queued_messages_set(0)
    return client


def retained_payload(host: str, port: int, topic: str, timeout: float = 10.0) -> Any:
    """The retained JSON message on ``topic``, or None."""
    got: list[Any] = []
    done = threading.Event()
    client = _client("bench-probe")

    def on_connect(c: mqtt.Client, *_a: Any) -> None:
        c.subscribe(topic, qos=1)

    def on_message(_c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        got.append(json.loads(msg.payload) if msg.payload else None)
        done.set()

    client.on_connect = on_connect
    client.on_message = on_message
    client.connect(host, port)
    client.loop_start()
    done.wait(timeout)
    client.disconnect()
    client.loop_stop()
    return got[0] if got else None


def _subscriber(host: str, port: int, pipe: Any) -> None:
    """Child process: count messages; report the count at each request on ``pipe``."""
    received = 0
    subscribed = threading.Event()
    sub = _client("bench-raw-sub")

    def on_connect(c: mqtt.Client, *_a: Any) -> None:
        c.subscribe(TOPIC, qos=1)

    def on_subscribe(*_a: Any) -> None:
        subscribed.set()

    def on_message(*_a: Any) -> None:
        nonlocal received
        received += 1

    sub.on_connect = on_connect
    sub.on_subscribe = on_subscribe
    sub.on_message = on_message
    sub.connect(host, port)
    sub.loop_start()
    pipe.send(subscribed.wait(10))
    while pipe.recv() != "stop":
        pipe.send((time.monotonic(), received))
    sub.disconnect()
    sub.loop_stop()


def measure(host: str, port: int, seconds: float, payload_size: int) -> dict[str, float]:
    """Messages/s received by one subscriber from one QoS 1 publisher over ``seconds``.

    Publisher and subscriber run in separate processes (as central and a store would), so
    neither waits for the other's GIL.
    """
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    child = context.Process(target=_subscriber, args=(host, port, theirs), daemon=True)
    child.start()
    try:
        if not ours.recv():
            raise RuntimeError("raw subscriber could not subscribe")
        pub = _client("bench-raw-pub")
        pub.max_queued_messages_set(1000)  # publish() says MQTT_ERR_QUEUE_SIZE when full
        pub.connect(host, port)
        pub.loop_start()
        payload = b"x" * payload_size
        sent = 0
        warmup = time.monotonic() + min(1.0, seconds / 4)
        marked = False
        deadline = warmup + seconds
        try:
            while True:
                now = time.monotonic()
                if not marked and now >= warmup:
                    ours.send("count")
                    first = ours.recv()
                    marked = True
                elif now >= deadline:
                    break
                info = pub.publish(TOPIC, payload, qos=1)
                if info.rc == mqtt.MQTT_ERR_QUEUE_SIZE:
                    time.sleep(0.0005)  # window full: wait for PUBACKs
                    continue
                sent += 1
            ours.send("count")
            last = ours.recv()
        finally:
            pub.disconnect()
            pub.loop_stop()
        ours.send("stop")
    finally:
        child.join(10)
        if child.is_alive():
            child.kill()
    elapsed = last[0] - first[0]
    got = last[1] - first[1]
    return {"payload_bytes": payload_size, "seconds": round(elapsed, 2), "received": got,
            "msgs_per_s": round(got / elapsed, 1),
            "mbytes_per_s": round(got * payload_size / elapsed / 1e6, 2)}
