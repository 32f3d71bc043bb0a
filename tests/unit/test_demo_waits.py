"""The demo's start-up waits: done when the part answers, failed as soon as it exits, and no
fixed short deadline in between (a loaded machine may take long to answer)."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from tessera import demo
from tessera.demo_control import Part, Spec


def _part(code: str) -> Part:
    spec = Spec("p", [sys.executable, "-c", code], {})
    spec.popen = subprocess.Popen(spec.args)
    return Part("p", [spec])


@pytest.fixture
def running() -> Iterator[Part]:
    part = _part("import time; time.sleep(60)")
    yield part
    for spec in part.procs:
        assert spec.popen is not None
        spec.popen.kill()
        spec.popen.wait(10)


def test_the_wait_ends_when_the_part_answers(running: Part) -> None:
    answers = iter([False, False, True])
    assert demo.wait_ready(running, lambda: next(answers), interval=0.01)


def test_the_wait_fails_at_once_when_the_part_exited() -> None:
    part = _part("raise SystemExit(3)")
    assert part.procs[0].popen is not None
    part.procs[0].popen.wait(30)
    started = time.monotonic()
    assert not demo.wait_ready(part, lambda: False, timeout=60)
    assert time.monotonic() - started < 30  # not the deadline: the exit ended it


def test_a_part_that_never_answers_fails_at_the_deadline(running: Part) -> None:
    assert not demo.wait_ready(running, lambda: False, timeout=0.3, interval=0.01)

