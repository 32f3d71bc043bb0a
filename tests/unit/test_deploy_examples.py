"""The documented production configurations give stores the stores' broker listener, never
central's private one (docs/broker-security.md)."""

from __future__ import annotations

import re
from pathlib import Path

from central import settings as central_settings
from store_agent import settings as agent_settings

ROOT = Path(__file__).parents[2]


def test_central_env_example_hands_stores_a_store_listener() -> None:
    env = agent_settings.read_config(ROOT / "deploy" / "env" / "central.env.example")
    loaded = central_settings.load(env)
    assert loaded.broker_public_url is not None
    assert loaded.broker.port == 1884
    assert ":1884" not in loaded.broker_public_url


def test_compose_hands_stores_a_store_listener() -> None:
    text = (ROOT / "docker-compose.yml").read_text()
    anchor = text.split("x-central-env: &central-env", 1)[1].split("\n\n", 1)[0]
    env = {}
    for line in anchor.splitlines():
        match = re.fullmatch(r"\s+(TESSERA_\w+): (.*)", line)
        if match:
            # ${NAME:-default} -> default, as compose reads it with NAME unset
            env[match[1]] = re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", match[2])
    loaded = central_settings.load(env)
    assert loaded.broker_public_url == "mqtt://broker:1883"
    assert (loaded.broker.host, loaded.broker.port) == ("broker", 1884)
