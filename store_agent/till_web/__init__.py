"""The browser till (/till/) and the customer display (/display/), served by the agent.

Both are static pages of this package (no CDN: a shop may have no internet) whose
scripts talk to the POS API (/pos/v1) like any other till; there is no other way in.
The pages carry a content security policy without inline scripts.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, Response, redirect, render_template, request

LANGUAGES = ("en", "it", "fr", "ro")

_SELF = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " \
        "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'self'"
CSP = {
    "till": _SELF,
    # The display also shows head office's videos and web pages in its promotional side.
    "display": _SELF.replace("default-src 'self';",
                             "default-src 'self'; media-src 'self'; frame-src http: https:;"),
}


def create_blueprint() -> Blueprint:
    blp = Blueprint("till_web", __name__, static_folder="static",
                    static_url_path="/till/static", template_folder="templates")

    def page(name: str) -> Response:
        response = Response(render_template(f"{name}.html", languages=LANGUAGES))
        response.headers["Content-Security-Policy"] = CSP[name]
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Cache-Control"] = "no-cache"
        return response

    @blp.get("/till/")
    def till() -> Response:
        return page("till")

    @blp.get("/display/")
    def display() -> Response:
        return page("display")

    @blp.get("/till")
    @blp.get("/display")
    def slash() -> Any:
        return redirect(request.path + "/", code=308)

    return blp


def register(app: Flask) -> None:
    """Serve the till and the display pages from ``app`` (the agent's POS app)."""
    app.register_blueprint(create_blueprint())
