"""The state checksum of a stream, computed the same way by central and by every store.

A stream's checksum is the XOR of one 64-bit hash per live entry (entity, key and the
canonical JSON of its data, as ``protocol.encoding.dumps`` writes it). XOR makes it
independent of order and cheap to keep up to date: an upsert takes the entry's old hash out
and puts the new one in, a deletion takes it out. Two sides at the same version with
different checksums hold different data: drift, repaired by a snapshot.
"""

from __future__ import annotations

import hashlib
from typing import Any

from protocol.encoding import dumps

EMPTY = "0" * 16


def entry_hash(entity: str, key: str, data: dict[str, Any] | None = None,
               text: str | None = None) -> int:
    """The hash of one live entry; pass ``data`` or its canonical ``text``."""
    body = text if text is not None else dumps(data or {}).decode()
    digest = hashlib.sha256(f"{entity}\0{key}\0{body}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


def combine(checksum: str, *hashes: int) -> str:
    """``checksum`` with each of ``hashes`` toggled (added if absent, removed if present)."""
    value = int(checksum, 16)
    for item in hashes:
        value ^= item
    return f"{value:016x}"
