"""``make screenshots``: the console's main pages, rendered from a demo network.

Runs ``tessera demo`` (broker, central, kiosk-1 and market with demo data) under
var/screenshots, signs in as the demo's admin in headless Debian chromium and writes PNGs to
docs/screenshots/; then stops the demo. Needs the demo's fixed ports to be free.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests
from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parents[1]
VAR = ROOT / "var" / "screenshots"
OUT = ROOT / "docs" / "screenshots"
CENTRAL = "http://127.0.0.1:8000"
PORTS = (8000, 8001, 8101, 8102, 18830)
CHROMIUM = "/usr/bin/chromium"
STARTUP = 180.0


def _busy(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _wait(what: str, check, timeout: float = STARTUP):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            result = check()
        except (requests.RequestException, OSError, ValueError):
            result = None
        if result:
            return result
        time.sleep(0.5)
    raise SystemExit(f"screenshots: gave up waiting for {what}")


def _both_caught_up(token: str) -> bool:
    """Both stores online and at central's head (they report it at their next catch-up)."""
    rows = requests.get(f"{CENTRAL}/api/v1/fleet/", timeout=5,
                        headers={"Authorization": f"Bearer {token}"}).json()
    return sum(1 for r in rows if r["state"] == "online" and r["lag"] == 0) >= 2


def shoot() -> None:
    password = (VAR / "admin-password").read_text().strip()
    token = (VAR / "admin-token").read_text().strip()
    _wait("both demo stores online and caught up", lambda: _both_caught_up(token))
    products = requests.get(f"{CENTRAL}/api/v1/products/", timeout=5,
                            headers={"Authorization": f"Bearer {token}"}).json()
    OUT.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                                    args=["--no-sandbox"])
        context = browser.new_context(viewport={"width": 1280, "height": 800},
                                      locale="en-GB", timezone_id="UTC")
        page = context.new_page()
        page.goto(f"{CENTRAL}/login")
        page.get_by_label("Username").fill("admin")
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Sign in").click()
        page.get_by_role("heading", name="Fleet").wait_for()
        shots = [("fleet.png", "/"), ("store.png", "/stores/kiosk-1"),
                 ("products.png", "/products"), ("stores.png", "/stores")]
        if products:
            shots.append(("product.png", f"/products/{products[0]['sku']}"))
        for name, path in shots:
            page.goto(CENTRAL + path)
            page.screenshot(path=str(OUT / name), full_page=False)
            print(f"screenshots: {OUT / name}", file=sys.stderr)  # noqa: T201
        page.get_by_label("Language").select_option(label="Italiano")
        page.get_by_role("button", name="Change language").click()
        page.goto(f"{CENTRAL}/products")
        page.screenshot(path=str(OUT / "products-it.png"))
        print(f"screenshots: {OUT / 'products-it.png'}", file=sys.stderr)  # noqa: T201
        browser.close()


def main() -> None:
    busy = [port for port in PORTS if _busy(port)]
    if busy:
        raise SystemExit(f"screenshots: ports {busy} are in use (another demo running?)")
    VAR.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("TESSERA_")}
    with open(VAR / "demo.log", "ab") as log:
        demo = subprocess.Popen([sys.executable, "-m", "tessera", "demo", "--fresh",
                                 "--var-dir", str(VAR)], cwd=ROOT, env=env, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
    try:
        _wait("central", lambda: requests.get(f"{CENTRAL}/healthz", timeout=2).ok
              and (VAR / "admin-token").exists())
        shoot()
    finally:
        if demo.poll() is None:
            os.killpg(demo.pid, signal.SIGINT)
            try:
                demo.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(demo.pid, signal.SIGKILL)
                demo.wait(10)


if __name__ == "__main__":
    main()
