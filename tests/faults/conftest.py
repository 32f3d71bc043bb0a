"""Fixtures of the fault-injection suite: the e2e network with a fault proxy in front of
its broker, so every process (agents, publisher, ingest workers) reaches Mosquitto through
the proxy and each can be cut, slowed, duplicated or reset on its own."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import NETWORK
from tests.e2e.conftest import pytest_runtest_makereport as e2e_makereport
from tests.e2e.harness import CentralTemplate, RestartableBroker
from tests.faults.proxy import FaultProxy
from tests.faults.scenario import FaultNetwork

pytest_runtest_makereport = e2e_makereport


@pytest.fixture
def broker_config() -> str:
    """Extra mosquitto.conf lines (``{workdir}``: the test's directory); a test overrides
    it with ``parametrize``."""
    return ""


@pytest.fixture
def faulty(request: pytest.FixtureRequest, tmp_path: Path, broker_config: str,
           central_template: CentralTemplate) -> Iterator[FaultNetwork]:
    """Broker, proxy and a migrated central database; the test starts central and stores."""
    broker = RestartableBroker(tmp_path, extra_config=broker_config.replace(
        "{workdir}", str(tmp_path)))
    proxy = FaultProxy(broker.port)
    net = FaultNetwork(tmp_path, broker, proxy)
    request.node.stash[NETWORK] = net
    try:
        broker.start()
        proxy.start()
        net.base_env["TESSERA_BROKER_URL"] = proxy.url
        net.create_database(central_template)
        yield net
    finally:
        try:
            net.close()
        finally:
            try:
                proxy.stop()
            finally:
                broker.kill()
