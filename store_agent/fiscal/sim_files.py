"""What the device simulators share: their state written atomically, faults by file.

A simulator keeps its whole state in one JSON file that is replaced atomically (write, fsync,
rename, fsync the directory) after each command, so a kill -9 at any moment leaves either the
state before the command or the state after it. Faults are switched at start (``NAME=N``)
or on a running simulator through a small JSON file it reads before each command.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

FAULT_FILE = "faults.json"


def write_state(path: Path, state: dict[str, Any]) -> None:
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump(state, handle, indent=1, sort_keys=True)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def parse_faults(specs: Iterable[str], known: Iterable[str]) -> dict[str, int]:
    """``["paper_out_after=2", ...]`` into ``{"paper_out_after": 2}``; unknown names refused."""
    names = tuple(known)
    faults: dict[str, int] = {}
    for spec in specs:
        name, _, value = spec.partition("=")
        if name not in names or not value.isdigit():
            raise ValueError(f"fault {spec!r}: expected one of {', '.join(names)} =N")
        faults[name] = int(value)
    return faults


def write_faults(directory: Path, known: Iterable[str], faults: dict[str, int]) -> None:
    """Hand faults to a running simulator (it reads the file before its next command)."""
    unknown = set(faults) - set(known)
    if unknown:
        raise ValueError(f"unknown faults {sorted(unknown)}")
    tmp = directory / (FAULT_FILE + ".tmp")
    tmp.write_text(json.dumps(faults))
    os.replace(tmp, directory / FAULT_FILE)


def take_faults(directory: Path) -> dict[str, int]:
    """The faults handed over since the last call (and forget the file)."""
    path = directory / FAULT_FILE
    if not path.exists():
        return {}
    faults = json.loads(path.read_text())
    path.unlink()
    return {name: int(value) for name, value in faults.items()}


class Countdowns:
    """Faults that fire a number of times: ``take(name)`` is true while some are left."""

    faults: dict[str, int]

    def take(self, name: str) -> bool:
        left = self.faults.get(name, 0)
        if left > 0:
            self.faults[name] = left - 1
        return left > 0
