"""``TESSERA_PRINTER_URL``: parsed once, bad values named."""

from __future__ import annotations

from pathlib import Path

import pytest

from store_agent.settings import PrinterSettings, SettingsError, load_printer


def env(tmp_path: Path, url: str) -> dict[str, str]:
    return {"TESSERA_AGENT_CONFIG": str(tmp_path / "none.env"), "TESSERA_PRINTER_URL": url}


@pytest.mark.parametrize("url, expected", [
    ("datecs+tcp://127.0.0.1:4999",
     PrinterSettings("datecs", "tcp", "127.0.0.1:4999", 115200, "auto", "UTC")),
    ("datecs+serial:///dev/ttyUSB0?baud=9600&dialect=byte&tz=Europe/Sofia",
     PrinterSettings("datecs", "serial", "/dev/ttyUSB0", 9600, "byte", "Europe/Sofia")),
])
def test_printer_urls(tmp_path: Path, url: str, expected: PrinterSettings) -> None:
    assert load_printer(env(tmp_path, url)) == expected


def test_no_printer(tmp_path: Path) -> None:
    assert load_printer(env(tmp_path, "")) is None


@pytest.mark.parametrize("url, message", [
    ("http://printer:80", "datecs\\+tcp"),
    ("datecs+tcp://printer", "host:port"),
    ("datecs+serial://", "ttyUSB0"),
    ("datecs+serial:///dev/ttyS0?baud=7", "baud"),
    ("datecs+tcp://h:1?dialect=y", "dialect"),
    ("datecs+tcp://h:1?tz=Mars/Base", "time zone"),
    ("datecs+tcp://h:1?speed=1", "unknown parameters speed"),
])
def test_bad_printer_urls(tmp_path: Path, url: str, message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        load_printer(env(tmp_path, url))
