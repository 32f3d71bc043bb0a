"""The broker URL is read once (transport.broker_url), the same for central and the agent."""

from __future__ import annotations

import pytest

from central import settings as central_settings
from store_agent import settings as agent_settings
from transport.broker_url import BrokerUrl, BrokerUrlError, parse_broker_url


@pytest.mark.parametrize(("value", "expected"), [
    ("mqtt://broker.local", BrokerUrl("broker.local", 1883, False)),
    ("mqtts://broker.local", BrokerUrl("broker.local", 8883, True)),
    ("mqtt://u:p@10.0.0.1:18830", BrokerUrl("10.0.0.1", 18830, False, "u", "p")),
    # Credentials are percent-decoded, as in any URL (a password with "@", ":" or "%").
    ("mqtt://store%2Dk1:p%40ss%3Aw%25rd@h", BrokerUrl("h", 1883, False, "store-k1", "p@ss:w%rd")),
])
def test_good_urls(value: str, expected: BrokerUrl) -> None:
    assert parse_broker_url(value) == expected


@pytest.mark.parametrize("value", ["http://broker", "mqtt://", "broker:1883",
                                   "mqtt://broker:port", "mqtt://broker:99999"])
def test_bad_urls_are_refused_with_the_value(value: str) -> None:
    with pytest.raises(BrokerUrlError, match="must look like mqtt://host:port"):
        parse_broker_url(value)


def test_central_and_agent_name_the_variable(tmp_path: object) -> None:
    with pytest.raises(central_settings.SettingsError, match="^TESSERA_BROKER_URL must"):
        central_settings.parse_broker({"TESSERA_BROKER_URL": "mqtt://h:x"})
    with pytest.raises(agent_settings.SettingsError, match="^TESSERA_BROKER_URL must"):
        agent_settings.load({"TESSERA_STORE_CODE": "kiosk-1", "TESSERA_BROKER_URL": "tcp://h",
                             "TESSERA_AGENT_CONFIG": f"{tmp_path}/none.env",
                             "TESSERA_VAR_DIR": str(tmp_path)})
