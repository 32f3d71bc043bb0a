"""The ``network`` fixture: real processes per test, their logs attached to any failure."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.harness import CentralTemplate, Network, RestartableBroker

NETWORK = pytest.StashKey[Network]()


@pytest.fixture
def network(request: pytest.FixtureRequest, tmp_path: Path,
            central_template: CentralTemplate) -> Iterator[Network]:
    """A private broker and a freshly migrated central database; the test starts the rest."""
    broker = RestartableBroker(tmp_path)
    net = Network(tmp_path, broker)
    request.node.stash[NETWORK] = net
    try:
        broker.start()
        net.create_database(central_template)
        yield net
    finally:
        try:
            net.close()
        finally:
            broker.kill()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """On failure, add the tail of every process log to the report (readable CI failures)."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    net = item.stash.get(NETWORK, None)
    if net is not None and report.failed:
        report.sections.append(("process logs (tail)", net.log_tails()))
