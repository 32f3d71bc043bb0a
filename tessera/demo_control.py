"""The demo's processes: started, watched and stopped one part at a time.

The running ``tessera demo`` owns every process. A part that stops (killed, crashed, or
stopped on purpose) is reported and the rest keeps running. ``tessera demo stop PART`` and
``tessera demo start PART`` from another terminal drop a request file in ``control/``; the
demo acts on it and records every part's state in ``state.json``, which the commands read.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

STATE = "state.json"
CONTROL = "control"
ACTIONS = ("start", "stop")


@dataclass
class Spec:
    """One process: its command line and environment."""

    name: str
    args: list[str]
    env: dict[str, str]
    popen: subprocess.Popen[bytes] | None = None
    exit_code: int | None = None


@dataclass
class Part:
    """What the user stops and starts by name: one or more processes."""

    name: str
    procs: list[Spec]
    wanted: bool = True
    notes: list[str] = field(default_factory=list)

    @property
    def state(self) -> str:
        alive = [p for p in self.procs if p.popen is not None and p.popen.poll() is None]
        if len(alive) == len(self.procs):
            return "running"
        if not alive and not self.wanted:
            return "stopped"
        return "exited" if not alive else "partly running"


class Supervisor:
    """Starts the parts, reports the ones that stop, obeys the control requests."""

    def __init__(self, root: Path, echo: Callable[[str], None]) -> None:
        self.root = root
        self.echo = echo
        self.parts: dict[str, Part] = {}
        (root / CONTROL).mkdir(parents=True, exist_ok=True)
        for stale in (root / CONTROL).iterdir():
            stale.unlink()
        self.ready = False

    def add(self, part: Part, start: bool = True) -> Part:
        self.parts[part.name] = part
        if start:
            self.start(part.name)
        return part

    def _spawn(self, spec: Spec) -> None:
        with open(self.root / f"{spec.name}.log", "ab") as log:
            spec.popen = subprocess.Popen(spec.args, env=spec.env, stdout=log,
                                          stderr=subprocess.STDOUT, start_new_session=True)
        spec.exit_code = None

    def start(self, name: str) -> None:
        part = self.parts[name]
        part.wanted = True
        for spec in part.procs:
            if spec.popen is None or spec.popen.poll() is not None:
                self._spawn(spec)
        self.save()

    def stop(self, name: str, timeout: float = 15) -> None:
        part = self.parts[name]
        part.wanted = False
        self._terminate(part.procs, timeout)
        self.save()

    @staticmethod
    def _terminate(specs: list[Spec], timeout: float) -> None:
        running = [s for s in specs if s.popen is not None and s.popen.poll() is None]
        for spec in running:
            assert spec.popen is not None
            try:
                os.killpg(spec.popen.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + timeout
        for spec in running:
            assert spec.popen is not None
            try:
                spec.popen.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(spec.popen.pid, signal.SIGKILL)
                spec.popen.wait(5)
        for spec in specs:
            if spec.popen is not None:
                spec.exit_code = spec.popen.returncode

    def stop_all(self) -> None:
        every = [spec for part in reversed(self.parts.values()) for spec in part.procs]
        for part in self.parts.values():
            part.wanted = False
        self._terminate(every, 10)
        self.ready = False
        self.save(finished=True)

    def check(self) -> None:
        """Report a process that stopped by itself; the other parts are not touched."""
        changed = False
        for part in self.parts.values():
            for spec in part.procs:
                if (part.wanted and spec.popen is not None and spec.exit_code is None
                        and spec.popen.poll() is not None):
                    spec.exit_code = spec.popen.returncode
                    changed = True
                    self.echo(f"{spec.name} exited with {spec.exit_code} (log: "
                              f"{self.root / (spec.name + '.log')}); the rest of the demo "
                              f"keeps running. `tessera demo start {part.name}` starts it "
                              "again.")
        if changed:
            self.save()

    def obey(self) -> None:
        """Carry out the requests that ``tessera demo start|stop PART`` left."""
        for request in sorted((self.root / CONTROL).iterdir()):
            if request.name.startswith("."):
                continue  # still being written
            action, _, name = request.name.partition(".")
            request.unlink()
            if action not in ACTIONS or name not in self.parts:
                continue
            if action == "stop":
                self.stop(name)
                self.echo(f"{name} stopped (tessera demo stop); the rest keeps running")
            else:
                self.start(name)
                self.echo(f"{name} started again (tessera demo start)")

    def save(self, finished: bool = False) -> None:
        state = {"pid": os.getpid(), "ready": self.ready and not finished,
                 "finished": finished,
                 "parts": {name: {"state": part.state,
                                  "processes": {s.name: (s.popen.pid if s.popen is not None
                                                         and s.popen.poll() is None else None)
                                                for s in part.procs},
                                  "notes": part.notes}
                           for name, part in self.parts.items()}}
        temp = self.root / (STATE + ".tmp")
        temp.write_text(json.dumps(state, indent=2))
        os.replace(temp, self.root / STATE)

    def watch(self, interval: float = 0.2) -> None:
        while True:
            time.sleep(interval)
            self.check()
            self.obey()


class DemoNotRunning(RuntimeError):
    """No running demo under this directory."""


def read_state(root: Path) -> dict[str, Any]:
    path = root / STATE
    try:
        state: dict[str, Any] = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise DemoNotRunning(f"no demo is running with --var-dir {root} (start it with "
                             "`tessera demo` in another terminal)") from exc
    if state.get("finished") or not _alive(int(state.get("pid", 0))):
        raise DemoNotRunning(f"the demo under {root} is not running (start it with "
                             "`tessera demo`)")
    return state


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def request(root: Path, action: str, part: str, timeout: float = 30) -> dict[str, Any]:
    """Ask the running demo to start or stop ``part``; wait until it has."""
    state = read_state(root)
    if part not in state["parts"]:
        raise ValueError(f"no part {part!r}; the demo's parts are "
                         f"{', '.join(state['parts'])}")
    wanted = "running" if action == "start" else "stopped"
    temp = root / CONTROL / f".{action}.{part}.tmp"
    temp.write_text("")
    os.replace(temp, root / CONTROL / f"{action}.{part}")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = read_state(root)
        if (state["parts"][part]["state"] == wanted
                and not (root / CONTROL / f"{action}.{part}").exists()):
            return state
        time.sleep(0.1)
    raise TimeoutError(f"the demo did not {action} {part} within {timeout:.0f} s; see "
                       f"{root}/*.log")
