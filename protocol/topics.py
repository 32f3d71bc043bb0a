"""MQTT topic names. Every topic string in the code base comes from here."""

from __future__ import annotations

ROOT = "tessera/v1"

CENTRAL_STATE = f"{ROOT}/central/state"


def bucket_down(bucket: str) -> str:
    """Changes that concern every store, one topic per bucket."""
    return f"{ROOT}/bucket/{bucket}/down"


def store_down(store: str) -> str:
    """Changes, catch-up replies and snapshots for one store."""
    return f"{ROOT}/stores/{store}/down"


def store_up(store: str) -> str:
    """Outbox batches from one store (sales, customers, ...)."""
    return f"{ROOT}/stores/{store}/up"


def store_up_ack(store: str) -> str:
    """Retained: highest contiguous upstream seq that central committed."""
    return f"{ROOT}/stores/{store}/up/ack"


def store_state(store: str) -> str:
    """Retained birth / last will of one store."""
    return f"{ROOT}/stores/{store}/state"


def store_cmd(store: str) -> str:
    """Requests from central to one store."""
    return f"{ROOT}/stores/{store}/cmd"


def store_rpc(store: str) -> str:
    """Requests from one store to central (catch-up, holds)."""
    return f"{ROOT}/stores/{store}/rpc"


def store_rpc_reply(store: str) -> str:
    """Central's replies to the requests of one store."""
    return f"{ROOT}/stores/{store}/rpc/res"


ALL_BUCKETS_DOWN = f"{ROOT}/bucket/+/down"
ALL_STORES_UP = f"{ROOT}/stores/+/up"
ALL_STORES_STATE = f"{ROOT}/stores/+/state"
ALL_STORES_RPC = f"{ROOT}/stores/+/rpc"


def shared(group: str, topic: str) -> str:
    """MQTT v5 shared subscription of ``topic`` for the consumer group ``group``."""
    return f"$share/{group}/{topic}"


def store_of(topic: str) -> str | None:
    """The store code in a ``stores/{store}/...`` topic, or None."""
    parts = topic.split("/")
    if len(parts) >= 4 and f"{parts[0]}/{parts[1]}" == ROOT and parts[2] == "stores":
        return parts[3]
    return None


def bucket_of(topic: str) -> str | None:
    """The bucket name in a ``bucket/{bucket}/down`` topic, or None."""
    parts = topic.split("/")
    if len(parts) == 5 and f"{parts[0]}/{parts[1]}" == ROOT and parts[2] == "bucket":
        return parts[3]
    return None
