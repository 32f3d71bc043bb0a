"""Central's settings: the default time zone of new stores is checked when they load."""

from __future__ import annotations

import pytest

from central import settings


def test_new_stores_are_in_europe_rome_unless_told_otherwise() -> None:
    assert settings.load({}).default_time_zone == "Europe/Rome"
    chosen = settings.load({"TESSERA_DEFAULT_TIME_ZONE": "Europe/Lisbon"})
    assert chosen.default_time_zone == "Europe/Lisbon"


@pytest.mark.parametrize("name", ["Europe/Atlantis", "rome", "../../etc/passwd", "+01:00"])
def test_an_unknown_default_time_zone_is_refused_naming_the_variable(name: str) -> None:
    with pytest.raises(settings.SettingsError, match="TESSERA_DEFAULT_TIME_ZONE"):
        settings.load({"TESSERA_DEFAULT_TIME_ZONE": name})
