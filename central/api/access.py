"""Who may call what: bearer tokens and the role policy of every endpoint, in one table.

One ``before_request`` hook guards the whole application. A request to an endpoint that is
neither in ``PUBLIC`` nor covered by ``BLUEPRINT_ACCESS``/``ENDPOINT_ACCESS`` is refused to
everyone, admin included (fail closed): a new blueprint must say who may use it. Reads (GET,
HEAD, OPTIONS) and writes (POST, PUT, PATCH, DELETE) have their own roles; admin may do
everything. The same table documents each operation in the OpenAPI document.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from apispec import BasePlugin
from flask import Flask, Response, current_app, g, request
from flask_smorest import Api

from central.services import auth
from central.services.auth import (
    ADMIN,
    CUSTOMER_SERVICE,
    MARKETING,
    PRICING,
    ROLES,
    TECHNICIAN,
)
from central.transactions import db_session

log = logging.getLogger(__name__)

API_PREFIX = "/api/v1/"
READS = frozenset({"GET", "HEAD", "OPTIONS"})
ANY_ROLE = frozenset(ROLES)


@dataclass(frozen=True)
class Access:
    """Roles allowed to read and to write; admin is always allowed."""

    read: frozenset[str]
    write: frozenset[str]

    def roles_for(self, method: str) -> frozenset[str]:
        allowed = self.read if method.upper() in READS else self.write
        return allowed | {ADMIN}


def writes_by(*roles: str) -> Access:
    """Everyone signed in reads; ``roles`` (and admin) write."""
    return Access(read=ANY_ROLE, write=frozenset(roles))


ADMIN_ONLY = Access(read=frozenset({ADMIN}), write=frozenset({ADMIN}))

# By blueprint name (the part of the endpoint name before the dot).
BLUEPRINT_ACCESS: dict[str, Access] = {
    # catalogue, prices and discount policies: the pricing team
    "categories": writes_by(PRICING),
    "brands": writes_by(PRICING),
    "families": writes_by(PRICING),
    "products": writes_by(PRICING),
    "product-bulk": writes_by(PRICING),
    "prices": writes_by(PRICING),
    "discount-rules": writes_by(PRICING),
    "promotions": writes_by(PRICING),
    "exclusions": writes_by(PRICING),
    "partner-programmes": writes_by(PRICING),
    "vip-cards": writes_by(PRICING),
    # the store network: technicians
    "stores": writes_by(TECHNICIAN),
    "store-groups": writes_by(TECHNICIAN),
    "enrolment-codes": writes_by(TECHNICIAN),
    "cashiers": writes_by(TECHNICIAN),
    "console-cashiers": writes_by(TECHNICIAN),
    # what head office tells the tills: marketing
    "instructions": writes_by(MARKETING),
    "seller-messages": writes_by(MARKETING),
    "console-instructions": writes_by(MARKETING),
    # the customer displays' promotional content: marketing
    "display-content": writes_by(MARKETING),
    "console-display": writes_by(MARKETING),
    # in-store surveys: marketing
    "survey-questions": writes_by(MARKETING),
    "surveys": writes_by(MARKETING),
    "store-surveys": writes_by(MARKETING),
    "survey-results": writes_by(),
    "console-surveys": writes_by(MARKETING),
    # what the stores' people counters counted: read by everyone, written by nobody
    "footfall": writes_by(),
    "console-footfall": writes_by(),
    "fleet": writes_by(TECHNICIAN),
    # how receipts look and are e-mailed: marketing
    "receipt-profiles": writes_by(MARKETING),
    # the loyalty programme (profiles, levels, gifts, points values): marketing
    "loyalty-profiles": writes_by(MARKETING),
    "loyalty-levels": writes_by(MARKETING),
    "loyalty-gifts": writes_by(MARKETING),
    "loyalty-points-values": writes_by(MARKETING),
    "loyalty-reports": writes_by(),  # read-only: drift and overspends
    # a customer's points: customer service adjusts them (with a reason)
    "customer-points": writes_by(CUSTOMER_SERVICE),
    # the customer registry: customer service keeps records, marketing alerts and lists
    "customers": writes_by(CUSTOMER_SERVICE),
    "customer-fields": writes_by(MARKETING),
    "customer-alerts": writes_by(MARKETING),
    "customer-lists": Access(read=ANY_ROLE, write=frozenset({MARKETING, CUSTOMER_SERVICE})),
    # imports of customers and partner members: their reports hold personal data, so only
    # those who import read them (customer service; pricing keeps the partner programmes)
    "imports": Access(read=frozenset({CUSTOMER_SERVICE, PRICING}),
                      write=frozenset({CUSTOMER_SERVICE, PRICING})),
    # what the stores sent: nobody rewrites it
    "sales": writes_by(),
    # people and their credentials
    "users": ADMIN_ONLY,
    "tokens": ADMIN_ONLY,
    "auth": writes_by(),
    # the web console (central/console): its pages sign in with the session cookie
    "console-fleet": writes_by(TECHNICIAN),
    "console-stores": writes_by(TECHNICIAN),
    "console-catalogue": writes_by(PRICING),
    "console-references": writes_by(PRICING),
    "console-prices": writes_by(PRICING),
    "console-sales": writes_by(),
    "console-loyalty": writes_by(MARKETING),
    "console-points": writes_by(CUSTOMER_SERVICE),
    "console-customers": writes_by(CUSTOMER_SERVICE),
    # the console's imports: as /api/v1/imports (the reports hold personal data)
    "console-imports": Access(read=frozenset({CUSTOMER_SERVICE, PRICING}),
                              write=frozenset({CUSTOMER_SERVICE, PRICING})),
    "console-users": ADMIN_ONLY,
    "console-discounts": writes_by(PRICING),
    "console-receipts": writes_by(MARKETING),
}

# By full endpoint name; wins over the blueprint's line.
ENDPOINT_ACCESS: dict[str, Access] = {
    # signing out (revoking the token in use) is everyone's right
    "auth.CurrentToken": Access(read=ANY_ROLE, write=ANY_ROLE),
    # everything held about one customer: customer service only (K10)
    "customers.CustomerExport": Access(read=frozenset({CUSTOMER_SERVICE}),
                                       write=frozenset({CUSTOMER_SERVICE})),
    # customer alerts in the console: marketing, as in the API
    "console-customers.alerts": writes_by(MARKETING),
    # signing out of the console likewise
    "console-auth.logout": Access(read=ANY_ROLE, write=ANY_ROLE),
}

# (URL rule, method or None for every method) that need no credentials at all.
PUBLIC: frozenset[tuple[str, str | None]] = frozenset({
    ("/healthz", None),
    ("/metrics", None),
    ("/api/openapi.json", None),
    ("/api/docs", None),
    ("/api/v1/auth/tokens", "POST"),  # log in: username and password for a token
    ("/api/v1/enrolments", "POST"),  # a shop PC redeems its one-time enrolment code
    ("/api/v1/enrolments/", "POST"),
    # the console's sign-in page, its language choice and its browser assets
    ("/login", None),
    ("/language", "POST"),
    ("/assets/vendor/<name>", None),
    ("/assets/console/<path:filename>", None),
})

@dataclass(frozen=True)
class Principal:
    """Who is calling: the user behind the bearer token of this request."""

    user_id: int
    username: str
    roles: frozenset[str]
    token_id: int


def is_public(rule: str, method: str) -> bool:
    return (rule, None) in PUBLIC or (rule, method.upper()) in PUBLIC


def access_for(endpoint: str | None) -> Access | None:
    """The policy of an endpoint, or None: no policy, so nobody may call it."""
    if not endpoint:
        return None
    if endpoint in ENDPOINT_ACCESS:
        return ENDPOINT_ACCESS[endpoint]
    return BLUEPRINT_ACCESS.get(endpoint.partition(".")[0]) if "." in endpoint else None


def now() -> dt.datetime:
    """The application's clock (``CLOCK`` in the app config replaces it in tests)."""
    clock: Callable[[], dt.datetime] = current_app.extensions["tessera.clock"]
    return clock()


def principal() -> Principal:
    """The caller of the current request (the hook made sure there is one)."""
    who: Principal = g.principal
    return who


def _role_list(roles: Iterable[str], joiner: str = " or ") -> str:
    return joiner.join(role for role in ROLES if role in set(roles))


def _bearer() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, credentials = header.partition(" ")
    if scheme.lower() != "bearer" or not credentials.strip():
        return None
    return credentials.strip()


def _authenticate() -> Principal:
    # Console pages sign in with their session cookie (central/console/signin.py).
    pages = current_app.extensions.get("tessera.session_auth")
    if pages is not None and request.blueprint in pages[0]:
        who: Principal = pages[1]()
        return who
    presented = _bearer()
    if presented is None:
        raise auth.AuthenticationFailed("authentication required: send the header "
                                        "'Authorization: Bearer <token>'")
    session = db_session()
    try:
        token = auth.resolve_token(session, presented, now())
        who = None if token is None else Principal(token.user.id, token.user.username,
                                                   auth.roles_of(token.user), token.id)
        session.commit()  # last_used_at, if it moved; the view starts a fresh transaction
    except BaseException:
        session.rollback()
        raise
    if who is None:
        g.invalid_token = True
        raise auth.AuthenticationFailed("invalid token: unknown, expired or revoked, or its "
                                        "user is inactive")
    return who


def authorize() -> None:
    """The ``before_request`` hook: 401 without valid credentials, 403 without the role."""
    rule = request.url_rule
    if rule is None:
        # No such URL or method: under the API, strangers learn nothing, not even that.
        if request.path.startswith(API_PREFIX):
            g.principal = _authenticate()
        return
    if is_public(rule.rule, request.method):
        return
    who = g.principal = _authenticate()
    access = access_for(request.endpoint)
    if access is None:
        log.error("no access policy for endpoint %s (%s): refused; add it to "
                  "central/api/access.py", request.endpoint, rule.rule)
        raise auth.PermissionDenied(f"no access policy is declared for {rule.rule}: "
                                    "nobody may call it")
    allowed = access.roles_for(request.method)
    if not auth.may(who.roles, allowed):
        raise auth.PermissionDenied(
            f"{request.method} {rule.rule} needs the role {_role_list(allowed)}; "
            f"{who.username} has {_role_list(who.roles, ', ') or 'no role'}")


def _challenge(response: Response) -> Response:
    """Every 401 says how to authenticate (RFC 6750)."""
    if response.status_code == 401:
        value = 'Bearer realm="tessera"'
        if g.get("invalid_token"):
            value += ', error="invalid_token"'
        response.headers["WWW-Authenticate"] = value
    return response


class AccessDocPlugin(BasePlugin):
    """Writes the policy into the OpenAPI document: roles, 401/403, public operations."""

    def operation_helper(self, path: str | None = None,
                         operations: dict[str, Any] | None = None, **kwargs: Any) -> None:
        rule = kwargs.get("rule")
        if rule is None or not operations:
            return
        for method, operation in operations.items():
            if method.upper() not in READS | {"POST", "PUT", "PATCH", "DELETE"}:
                continue
            if is_public(rule.rule, method):
                operation["security"] = []
                continue
            access = access_for(rule.endpoint)
            roles = [] if access is None else [r for r in ROLES
                                               if r in access.roles_for(method)]
            operation["x-roles"] = roles
            note = (f"Roles: {', '.join(roles)}." if roles
                    else "No access policy: refused to everyone.")
            operation["description"] = f"{operation.get('description', '')}\n\n{note}".strip()
            responses = operation.setdefault("responses", {})
            responses.setdefault(401, "UNAUTHORIZED")
            responses.setdefault(403, "FORBIDDEN")


def init_app(app: Flask, api: Api) -> None:
    """Guard ``app``; call before registering blueprints so that the spec plugin sees them.

    ``CLOCK`` in the app config (a callable returning an aware UTC datetime) replaces the
    clock, for tests of expiry and lockout.
    """
    app.extensions["tessera.clock"] = app.config.get("CLOCK") or (
        lambda: dt.datetime.now(dt.UTC))
    api.spec.components.security_scheme("bearerAuth", {
        "type": "http", "scheme": "bearer",
        "description": "A token `tsr_...`: POST /api/v1/auth/tokens with a username and "
                       "password, or `tessera central create-token USERNAME`."})
    api.spec.options["security"] = [{"bearerAuth": []}]
    plugin = AccessDocPlugin()
    plugin.init_spec(api.spec)
    api.spec.plugins.append(plugin)
    app.before_request(authorize)
    app.after_request(_challenge)
