"""An entry hash (protocol.checksum: 64 bits, unsigned) as SQLite holds it in a row.

SQLite integers are signed 64-bit: the hash is stored as its two's-complement value, eight
bytes instead of the sixteen of its hex text (a million customers and their cards).
"""

from __future__ import annotations

_HIGH = 1 << 63
_WRAP = 1 << 64


def to_row(value: int) -> int:
    return value - _WRAP if value >= _HIGH else value


def from_row(value: int) -> int:
    return value + _WRAP if value < 0 else value


def from_hex(text: str) -> int:
    return to_row(int(text, 16))
