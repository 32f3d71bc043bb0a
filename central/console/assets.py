"""The console's browser assets: its own (static/) and the npm packages bootstrap installs.

Only the files named in ``VENDOR`` are served from ``assets/node_modules``: the rest of a
package (sources, maps, its package.json) is nobody's business.
"""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, abort, send_from_directory
from flask.typing import ResponseReturnValue

HERE = Path(__file__).resolve().parent
NODE_MODULES = HERE / "assets" / "node_modules"
STATIC = HERE / "static"
# URL name -> file inside node_modules
VENDOR = {
    "htmx.min.js": "htmx.org/dist/htmx.min.js",
    "pico.min.css": "@picocss/pico/css/pico.min.css",
}
MAX_AGE = 3600

assets_bp = Blueprint("console-assets", __name__, url_prefix="/assets",
                      template_folder="templates")


def missing() -> list[str]:
    """The vendor files that are not installed (bootstrap has not run ``npm ci``)."""
    return [name for name, path in VENDOR.items() if not (NODE_MODULES / path).is_file()]


@assets_bp.get("/vendor/<name>")
def vendor(name: str) -> ResponseReturnValue:
    path = VENDOR.get(name)
    if path is None:
        abort(404)
    if not (NODE_MODULES / path).is_file():
        abort(404, f"{name} is not installed: run scripts/bootstrap.sh (npm ci in "
                   f"central/console/assets)")
    return send_from_directory(NODE_MODULES, path, max_age=MAX_AGE)


@assets_bp.get("/console/<path:filename>")
def static(filename: str) -> ResponseReturnValue:
    return send_from_directory(STATIC, filename, max_age=MAX_AGE)
