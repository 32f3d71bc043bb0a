"""Browser tests: Debian's Chromium driven by Playwright against the real network.

Broker, central (gunicorn, publisher, ingest worker) and store agents are the processes of
``tests/e2e/harness.py``; the browser is /usr/bin/chromium (never a downloaded one), headless.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, sync_playwright

from tests.e2e.conftest import network, pytest_runtest_makereport  # noqa: F401 - fixtures
from tests.e2e.harness import ROOT, TESSERA, Network

CHROMIUM = "/usr/bin/chromium"
# The console's pages: a short default timeout, so that a missing element fails fast.
CONSOLE_TIMEOUT_MS = 5_000
PASSWORD = "browser-test-password"


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as pw:
        yield pw


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
    try:
        yield browser
    finally:
        browser.close()


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    context = browser.new_context(locale="en-GB", timezone_id="UTC")
    context.set_default_timeout(CONSOLE_TIMEOUT_MS)
    context.set_default_navigation_timeout(CONSOLE_TIMEOUT_MS * 2)
    yield context
    context.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()


def create_user(net: Network, username: str, *roles: str) -> str:
    """A head-office user with a password, made with the CLI; returns the password."""
    args = [*TESSERA, "central", "create-user", username, "--password-stdin",
            *[a for role in roles for a in ("--role", role)]]
    result = subprocess.run(args, env=net.central_env, cwd=ROOT, input=PASSWORD + "\n",
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return PASSWORD


@pytest.fixture
def console(request: pytest.FixtureRequest) -> Network:
    """The network with central running and users ``boss`` (admin) and ``petra`` (pricing)."""
    from central.console import assets, catalogs

    absent = assets.missing()
    if absent:
        pytest.fail(f"console assets missing ({', '.join(absent)}): run scripts/bootstrap.sh")
    catalogs.compile_all()
    net: Network = request.getfixturevalue("network")
    net.start_central()
    create_user(net, "boss", "admin")
    create_user(net, "petra", "pricing")
    return net
