"""The head-office web console: server-rendered pages served by central (SPEC D3).

One blueprint and one template folder per feature (``auth``, ``fleet``, ...), a shared
layout, htmx for partial updates and Pico CSS, both installed from the npm registry by
``scripts/bootstrap.sh`` and served by central itself (head office may have no internet).
Pages sign in with the users and roles of the REST API and obey its access table
(``central/api/access.py``): a page blueprint without an entry there is refused to everyone.
"""

from __future__ import annotations

from flask import Flask

from central.console import assets, i18n, pages, signin
from central.console.auth import auth_bp
from central.console.cashiers import cashiers_bp
from central.console.catalogue import catalogue_bp
from central.console.catalogue.references import references_bp
from central.console.customers import customers_bp
from central.console.discounts import discounts_bp
from central.console.display import display_bp
from central.console.fleet import fleet_bp
from central.console.footfall import footfall_bp
from central.console.imports import imports_bp
from central.console.instructions import instructions_bp
from central.console.loyalty import loyalty_bp, points_bp
from central.console.prices import prices_bp
from central.console.receipts import receipts_bp
from central.console.sales import sales_bp
from central.console.stores import stores_bp
from central.console.surveys import surveys_bp
from central.console.users import users_bp

# Every page blueprint, in one list (the access table names each of them).
BLUEPRINTS = (auth_bp, fleet_bp, stores_bp, catalogue_bp, references_bp, prices_bp, sales_bp,
              customers_bp, users_bp, cashiers_bp, loyalty_bp, points_bp, instructions_bp,
              footfall_bp, surveys_bp, discounts_bp, receipts_bp, display_bp, imports_bp)


def init_app(app: Flask) -> None:
    """Sessions, languages, security headers, assets and the page blueprints."""
    signin.init_app(app)
    i18n.init_app(app)
    app.register_blueprint(assets.assets_bp)
    for blueprint in BLUEPRINTS:
        app.register_blueprint(blueprint)
    names = {bp.name for bp in BLUEPRINTS}
    pages.init_app(app, names | {assets.assets_bp.name})
    app.extensions["tessera.session_auth"] = (frozenset(names), signin.principal)
