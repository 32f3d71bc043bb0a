"""Central authentication: every API operation needs a token of the right role (checked by
walking the OpenAPI document), login throttling, token lifecycle, what the database keeps."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from flask import Blueprint, Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from central.api.access import access_for, is_public
from central.app import create_app
from central.cli import central as central_cli
from central.db import Database
from central.models import ApiToken, User
from central.roles import (
    ADMIN,
    CUSTOMER_SERVICE,
    MARKETING,
    PRICING,
    READ_ONLY,
    ROLES,
    TECHNICIAN,
)
from central.services import auth
from tests.support import api_token, authorize

pytestmark = pytest.mark.integration

API = "/api/v1"
T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
PASSWORD = "correct horse battery"

# What the issue asks for, written independently of central/api/access.py: the role that
# may write under each collection (admin may everything). None: admin only.
WRITERS: dict[str, str | tuple[str, ...] | None] = {
    "categories": PRICING, "brands": PRICING, "families": PRICING, "products": PRICING,
    "prices": PRICING, "discount-rules": PRICING, "promotions": PRICING,
    "exclusions": PRICING, "partner-programmes": PRICING, "vip-cards": PRICING,
    "stores": TECHNICIAN, "store-groups": TECHNICIAN, "fleet": TECHNICIAN, "cashiers": TECHNICIAN,
    "receipt-profiles": MARKETING, "loyalty": MARKETING,
    "instructions": MARKETING, "seller-messages": MARKETING, "survey-questions": MARKETING,
    "surveys": MARKETING, "store-surveys": MARKETING, "display-content": MARKETING,
    "footfall": None, "survey-results": None,
    # /customers/{id}/points/adjustments (the customers themselves come with their feature)
    "customers": CUSTOMER_SERVICE,
    "customer-fields": MARKETING, "customer-alerts": MARKETING,
    # counting and exporting a list is a POST (its criteria are the body): both may
    "customer-lists": (MARKETING, CUSTOMER_SERVICE),
    "sales": None, "users": None, "tokens": None, "auth": None,
    # customer and partner member imports: those who keep customers and programmes
    "imports": (CUSTOMER_SERVICE, PRICING),
}
ADMIN_ONLY_READS = {"users", "tokens"}
# Reads of personal data beyond the record (K10: everything held on one customer).
PERSONAL_READS = {"/api/v1/customers/{customer_id}/export": CUSTOMER_SERVICE,
                  # an import's progress and its report of rejected rows (their cells)
                  "/api/v1/imports/": CUSTOMER_SERVICE,
                  "/api/v1/imports/{job_id}": CUSTOMER_SERVICE,
                  "/api/v1/imports/{job_id}/report": CUSTOMER_SERVICE}
# Operations anyone signed in may call, whatever the method.
ANY_SIGNED_IN = {("DELETE", "/api/v1/auth/tokens/current")}
# Operations that need no token at all.
PUBLIC = {("POST", "/api/v1/auth/tokens"), ("POST", "/api/v1/enrolments/"),
          ("POST", "/api/v1/enrolments")}
METHODS = ("get", "post", "put", "patch", "delete")


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: dt.datetime = T0) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += dt.timedelta(**delta)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def db(sqlite_db: Database) -> Database:
    return sqlite_db


@pytest.fixture
def app_config(clock: Clock) -> dict[str, Any]:
    return {"CLOCK": clock}


@pytest.fixture
def admin(client_for: Callable[..., FlaskClient]) -> FlaskClient:
    return client_for(ADMIN)


def body(response: Any, status: int) -> Any:
    assert response.status_code == status, (response.status_code, response.get_json())
    return response.get_json()


def assert_error(response: Any, status: int) -> dict[str, Any]:
    error: dict[str, Any] = body(response, status)
    assert response.content_type == "application/json"
    assert error["code"] == status and error["status"] and error["message"]
    return error


# -- the OpenAPI walk -------------------------------------------------------------------------

def operations(client: FlaskClient) -> list[tuple[str, str, str]]:
    """(METHOD, template, concrete URL) of every operation the OpenAPI document lists."""
    spec = body(client.get("/api/openapi.json"), 200)
    found = []
    for template, item in spec["paths"].items():
        url = template
        for parameter in item.get("parameters", []):
            if parameter["in"] == "path":
                dummy = "999999" if parameter["schema"].get("type") == "integer" else "nope-x"
                url = url.replace("{" + parameter["name"] + "}", dummy)
        assert "{" not in url, f"unfilled path parameter in {template}"
        found += [(method.upper(), template, url) for method in METHODS if method in item]
    assert len(found) > 50, "the walk found too few operations"
    return found


def collection(template: str) -> str:
    return template.removeprefix(API + "/").split("/")[0]


def call(client: FlaskClient, method: str, url: str) -> Any:
    response = client.open(url, method=method, json=None if method in ("GET", "DELETE") else {})
    # A streamed download keeps its request context until it is read to the end and closed.
    response.get_data()
    response.close()
    return response


def test_every_operation_refuses_a_request_without_a_valid_token(
        anonymous: FlaskClient) -> None:
    for method, template, url in operations(anonymous):
        if (method, template) in PUBLIC:
            continue
        for headers in ({}, {"Authorization": "Bearer tsr_0000abcd_" + "x" * 43},
                        {"Authorization": "Basic YWRtaW46YWRtaW4="}):
            response = anonymous.open(url, method=method, headers=headers, json={})
            error = assert_error(response, 401)
            assert response.headers["WWW-Authenticate"].startswith("Bearer"), (method, url)
            assert "token" in error["message"], (method, url)


def test_every_role_reads_and_only_admin_reads_users(
        anonymous: FlaskClient, client_for: Callable[..., FlaskClient]) -> None:
    read_only, admin = client_for(READ_ONLY), client_for(ADMIN)
    for method, template, url in operations(anonymous):
        if method != "GET":
            continue
        admin_status = call(admin, method, url).status_code
        assert admin_status in (200, 404), (method, url, admin_status)
        response = call(read_only, method, url)
        if collection(template) in ADMIN_ONLY_READS:
            assert "admin" in assert_error(response, 403)["message"], url
        elif template in PERSONAL_READS:
            message = assert_error(response, 403)["message"]
            assert PERSONAL_READS[template] in message, url
            reader = client_for(PERSONAL_READS[template])
            assert call(reader, method, url).status_code == admin_status, url
        else:
            assert response.status_code == admin_status, (method, url, response.get_json())


def test_every_write_needs_its_role(anonymous: FlaskClient,
                                    client_for: Callable[..., FlaskClient]) -> None:
    clients = {role: client_for(role) for role in ROLES}
    for method, template, url in operations(anonymous):
        if method == "GET" or (method, template) in PUBLIC | ANY_SIGNED_IN:
            continue
        name = collection(template)
        assert name in WRITERS, f"{method} {template}: decide who may call it (and add a test)"
        writer = WRITERS[name]
        writers = writer if isinstance(writer, tuple) else (writer,)
        for role, client in clients.items():
            response = call(client, method, url)
            if role in (ADMIN, *writers):
                assert response.status_code not in (401, 403), (role, method, url)
                assert response.status_code < 500, (role, method, url, response.get_json())
            else:
                message = assert_error(response, 403)["message"]
                assert (writers[0] or ADMIN) in message and role in message, (role, url, message)


def test_anyone_signed_in_may_sign_out(client_for: Callable[..., FlaskClient]) -> None:
    for role in ROLES:
        client = client_for(role)
        assert body(client.get(f"{API}/auth/me"), 200)["roles"] == [role]
        assert body(client.delete(f"{API}/auth/tokens/current"), 200)["revoked_at"]
        assert_error(client.get(f"{API}/auth/me"), 401)


def test_public_operations_need_no_token(anonymous: FlaskClient) -> None:
    assert anonymous.get("/healthz").status_code == 200
    assert anonymous.get("/api/openapi.json").status_code == 200
    assert anonymous.get("/api/docs").status_code == 200
    # the login answers for itself: a wrong password, not "send a token"
    error = assert_error(anonymous.post(f"{API}/auth/tokens",
                                        json={"username": "x", "password": "y"}), 401)
    assert "password" in error["message"]


def test_every_route_of_the_app_has_a_policy_or_is_public(app: Flask) -> None:
    missing = [f"{sorted(rule.methods or [])} {rule.rule} ({rule.endpoint})"
               for rule in app.url_map.iter_rules()
               if rule.endpoint != "static"
               and not all(is_public(rule.rule, m) for m in (rule.methods or set()) - {"OPTIONS"})
               and access_for(rule.endpoint) is None]
    assert not missing


def test_the_openapi_document_names_the_scheme_and_the_roles(anonymous: FlaskClient) -> None:
    spec = body(anonymous.get("/api/openapi.json"), 200)
    assert spec["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http", "scheme": "bearer",
        "description": spec["components"]["securitySchemes"]["bearerAuth"]["description"]}
    assert spec["security"] == [{"bearerAuth": []}]
    assert spec["paths"]["/api/v1/auth/tokens"]["post"]["security"] == []
    patch = spec["paths"]["/api/v1/products/{sku}"]["patch"]
    assert patch["x-roles"] == [ADMIN, PRICING]
    assert {"401", "403"} <= {str(code) for code in patch["responses"]}


def test_an_endpoint_without_a_policy_is_refused_even_to_admin(app: Flask,
                                                               sqlite_db: Database) -> None:
    extra = Blueprint("reports", __name__)
    extra.add_url_rule(f"{API}/reports/", "list", lambda: {"secret": 42})
    extra.add_url_rule("/reports-page", "page", lambda: "<h1>secret</h1>")
    app.register_blueprint(extra)
    admin = authorize(app.test_client(), api_token(sqlite_db, ADMIN))
    for url in (f"{API}/reports/", "/reports-page"):
        assert "no access policy" in assert_error(admin.get(url), 403)["message"]
        assert_error(app.test_client().get(url), 401)
    # unknown URLs under the API tell strangers nothing; with a token they are 404
    assert_error(app.test_client().get(f"{API}/nothing-here"), 401)
    assert_error(admin.get(f"{API}/nothing-here"), 404)


# -- signing in and throttling ----------------------------------------------------------------

def login(client: FlaskClient, password: str, username: str = "alice") -> Any:
    return client.post(f"{API}/auth/tokens", json={"username": username, "password": password})


@pytest.fixture
def alice(admin: FlaskClient) -> dict[str, Any]:
    created: dict[str, Any] = body(admin.post(f"{API}/users/", json={
        "username": "alice", "roles": [PRICING], "password": PASSWORD}), 201)
    return created


def test_a_user_signs_in_with_a_password_and_uses_the_token(
        anonymous: FlaskClient, alice: dict[str, Any], clock: Clock) -> None:
    assert alice["roles"] == [PRICING] and alice["has_password"] is True
    issued = body(login(anonymous, PASSWORD), 201)
    assert re.fullmatch(r"tsr_[0-9a-f]{8}_[A-Za-z0-9_-]{43}", issued["token"])
    assert issued["token"].startswith(f"tsr_{issued['prefix']}_")
    assert issued["user"] == "alice"
    assert issued["expires_at"] == (T0 + dt.timedelta(hours=12)).isoformat()
    headers = {"Authorization": f"Bearer {issued['token']}"}
    me = body(anonymous.get(f"{API}/auth/me", headers=headers), 200)
    assert me["username"] == "alice" and me["roles"] == [PRICING]
    assert "token" not in me["token"] and me["token"]["prefix"] == issued["prefix"]
    body(anonymous.post(f"{API}/brands/", json={"code": "b", "name": "B"}, headers=headers),
         201)
    clock.advance(hours=12)
    assert_error(anonymous.get(f"{API}/auth/me", headers=headers), 401)


def test_five_wrong_passwords_lock_the_account_for_a_while(
        anonymous: FlaskClient, alice: dict[str, Any], clock: Clock,
        sqlite_db: Database) -> None:
    unknown = assert_error(login(anonymous, PASSWORD, username="nobody"), 401)
    for _ in range(5):
        assert assert_error(login(anonymous, "wrong password!"), 401) == unknown
    # locked: even the right password is refused, with the same answer as a wrong one
    assert assert_error(login(anonymous, PASSWORD), 401) == unknown
    clock.advance(minutes=14, seconds=59)
    assert_error(login(anonymous, PASSWORD), 401)
    clock.advance(seconds=1)
    body(login(anonymous, PASSWORD), 201)
    with sqlite_db.sessions() as session:
        user = session.scalars(select(User).where(User.username == "alice")).one()
        assert (user.failed_logins, user.locked_until) == (0, None)


def test_the_lock_grows_while_the_failures_go_on(anonymous: FlaskClient,
                                                 alice: dict[str, Any], clock: Clock) -> None:
    for _ in range(5):
        assert_error(login(anonymous, "wrong password!"), 401)
    clock.advance(minutes=15)
    for _ in range(5):
        assert_error(login(anonymous, "wrong password!"), 401)
    clock.advance(minutes=29)
    assert_error(login(anonymous, PASSWORD), 401)
    clock.advance(minutes=1)
    body(login(anonymous, PASSWORD), 201)


@pytest.mark.parametrize("failures, lock", [
    (5, dt.timedelta(minutes=15)), (10, dt.timedelta(minutes=30)),
    (15, dt.timedelta(hours=1)), (40, dt.timedelta(hours=24)), (10_000, dt.timedelta(days=1)),
])
def test_lock_durations(failures: int, lock: dt.timedelta) -> None:
    assert auth.lock_duration(failures) == lock


def test_an_admin_unlocks_a_locked_user(anonymous: FlaskClient, admin: FlaskClient,
                                        alice: dict[str, Any]) -> None:
    for _ in range(5):
        assert_error(login(anonymous, "wrong password!"), 401)
    assert body(admin.get(f"{API}/users/alice"), 200)["locked_until"]
    assert body(admin.patch(f"{API}/users/alice", json={"unlock": True}),
                200)["locked_until"] is None
    body(login(anonymous, PASSWORD), 201)


def test_passwords_are_at_least_ten_characters(admin: FlaskClient) -> None:
    error = assert_error(admin.post(f"{API}/users/", json={
        "username": "bob", "roles": [READ_ONLY], "password": "123456789"}), 422)
    assert "password" in error["errors"]
    assert_error(admin.post(f"{API}/users/", json={
        "username": "bob", "roles": ["boss"], "password": PASSWORD}), 422)
    body(admin.post(f"{API}/users/", json={"username": "bob", "roles": [READ_ONLY],
                                           "password": "1234567890"}), 201)
    assert_error(admin.post(f"{API}/users/", json={"username": "BOB", "roles": [READ_ONLY]}),
                 409)


# -- tokens -----------------------------------------------------------------------------------

def test_a_revoked_token_is_refused(admin: FlaskClient, anonymous: FlaskClient,
                                    alice: dict[str, Any]) -> None:
    issued = body(admin.post(f"{API}/users/alice/tokens", json={"name": "price feed"}), 201)
    assert issued["expires_at"] is None and issued["name"] == "price feed"
    headers = {"Authorization": f"Bearer {issued['token']}"}
    body(anonymous.get(f"{API}/auth/me", headers=headers), 200)
    listed = body(admin.get(f"{API}/users/alice/tokens"), 200)
    assert [t["prefix"] for t in listed] == [issued["prefix"]]
    assert all("token" not in t for t in listed)
    assert body(admin.delete(f"{API}/tokens/{issued['id']}"), 200)["revoked_at"]
    response = anonymous.get(f"{API}/auth/me", headers=headers)
    assert_error(response, 401)
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]
    assert_error(admin.delete(f"{API}/tokens/999999"), 404)


def test_an_inactive_users_tokens_are_refused(admin: FlaskClient, anonymous: FlaskClient,
                                              alice: dict[str, Any]) -> None:
    issued = body(login(anonymous, PASSWORD), 201)
    headers = {"Authorization": f"Bearer {issued['token']}"}
    assert body(admin.delete(f"{API}/users/alice"), 200)["active"] is False
    assert_error(anonymous.get(f"{API}/auth/me", headers=headers), 401)
    assert_error(login(anonymous, PASSWORD), 401)
    body(admin.patch(f"{API}/users/alice", json={"active": True}), 200)
    body(anonymous.get(f"{API}/auth/me", headers=headers), 200)


def test_the_last_admin_stays(admin: FlaskClient) -> None:
    me = body(admin.get(f"{API}/auth/me"), 200)["username"]
    assert_error(admin.delete(f"{API}/users/{me}"), 409)
    assert_error(admin.patch(f"{API}/users/{me}", json={"roles": [READ_ONLY]}), 409)
    body(admin.post(f"{API}/users/", json={"username": "root2", "roles": [ADMIN]}), 201)
    assert body(admin.patch(f"{API}/users/{me}", json={"roles": [READ_ONLY]}),
                200)["roles"] == [READ_ONLY]


def test_last_use_is_written_at_most_once_a_minute(admin: FlaskClient, clock: Clock,
                                                   sqlite_db: Database) -> None:
    def last_used() -> list[dt.datetime | None]:
        with sqlite_db.sessions() as session:
            return [t.last_used_at for t in session.scalars(select(ApiToken))]

    admin.get(f"{API}/auth/me")
    assert last_used() == [T0]
    clock.advance(seconds=59)
    admin.get(f"{API}/auth/me")
    assert last_used() == [T0]
    clock.advance(seconds=1)
    admin.get(f"{API}/auth/me")
    assert last_used() == [T0 + dt.timedelta(minutes=1)]


# -- what the database keeps ------------------------------------------------------------------

def test_the_database_keeps_an_argon2_hash_and_token_hashes_only(
        admin: FlaskClient, anonymous: FlaskClient, alice: dict[str, Any],
        sqlite_db: Database) -> None:
    secrets = [body(login(anonymous, PASSWORD), 201)["token"],
               body(admin.post(f"{API}/users/alice/tokens", json={"name": "s"}), 201)["token"]]
    with sqlite_db.sessions() as session:
        user = session.scalars(select(User).where(User.username == "alice")).one()
        assert user.password_hash and user.password_hash.startswith("$argon2id$")
        hashes = {t.token_hash for t in session.scalars(select(ApiToken))}
    assert {hashlib.sha256(s.encode()).hexdigest() for s in secrets} <= hashes
    sqlite_db.dispose()  # the last connection checkpoints the WAL into the file
    stored = b"".join(path.read_bytes() for path in
                      Path(sqlite_db.url.split("///", 1)[1]).parent.glob("central.db*"))
    assert PASSWORD.encode() not in stored
    for secret in secrets:
        assert secret.encode() not in stored
        assert secret.split("_", 2)[2].encode() not in stored


def test_users_tokens_and_throttling_on_postgresql(clean_pg_db: Database) -> None:
    client = authorize(create_app({"DATABASE": clean_pg_db, "TESTING": True}).test_client(),
                       api_token(clean_pg_db, ADMIN))
    body(client.post(f"{API}/users/", json={"username": "carol",
                                            "roles": [MARKETING, CUSTOMER_SERVICE],
                                            "password": PASSWORD}), 201)
    issued = body(client.post(f"{API}/users/carol/tokens", json={"name": "x"}), 201)
    me = body(client.get(f"{API}/auth/me",
                         headers={"Authorization": f"Bearer {issued['token']}"}), 200)
    assert me["roles"] == [MARKETING, CUSTOMER_SERVICE]
    with clean_pg_db.transaction() as session:
        assert auth.login(session, "Carol", PASSWORD, T0) is not None
        for _ in range(5):
            assert auth.login(session, "carol", "wrong password!", T0) is None
        assert auth.login(session, "carol", PASSWORD, T0) is None
        assert auth.login(session, "carol", PASSWORD, T0 + dt.timedelta(minutes=15))


# -- the command line and the demo ------------------------------------------------------------

def test_the_cli_creates_a_user_and_prints_only_the_token(sqlite_db: Database) -> None:
    runner = CliRunner()
    env = {"TESSERA_DATABASE_URL": sqlite_db.url}
    created = runner.invoke(central_cli, ["create-user", "ops", "--role", "technician",
                                          "--role", "read-only", "--password-stdin"],
                            input=PASSWORD + "\n", env=env)
    assert created.exit_code == 0, created.output
    again = runner.invoke(central_cli, ["create-user", "ops", "--role", "admin",
                                        "--no-password"], env=env)
    assert again.exit_code == 1 and "already exists" in again.output
    issued = runner.invoke(central_cli, ["create-token", "ops", "--name", "deploy"], env=env)
    assert issued.exit_code == 0, issued.output
    assert re.fullmatch(r"tsr_[0-9a-f]{8}_\S+\n", issued.stdout)
    with sqlite_db.transaction() as session:
        user = auth.authenticate_token(session, issued.stdout.strip(), T0)
        assert user is not None and auth.roles_of(user) == {TECHNICIAN, READ_ONLY}
        assert auth.login(session, "ops", PASSWORD, T0) is user
    missing = runner.invoke(central_cli, ["create-token", "nobody"], env=env)
    assert missing.exit_code == 1 and missing.stdout == ""


def test_the_demo_keeps_its_admin_and_writes_a_fresh_token_each_start(
        sqlite_db: Database, tmp_path: Path) -> None:
    from tessera.demo import provision_admin

    env = {"TESSERA_DATABASE_URL": sqlite_db.url, "TESSERA_VAR_DIR": str(tmp_path)}
    first = provision_admin(env, tmp_path).read_text().strip()
    password = (tmp_path / "admin-password").read_text().strip()
    second = provision_admin(env, tmp_path).read_text().strip()
    assert (tmp_path / "admin-password").read_text().strip() == password
    for name in ("admin-token", "admin-password"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600
    with sqlite_db.transaction() as session:
        assert auth.authenticate_token(session, first, T0) is None  # rotated
        user = auth.authenticate_token(session, second, T0)
        assert user is not None and user.username == "admin"
        assert auth.login(session, "admin", password, T0) is user


def test_a_users_console_language_is_set_and_cleared_through_the_api(
        admin: FlaskClient, alice: dict[str, Any]) -> None:
    assert alice["language"] is None  # the browser's until chosen
    assert body(admin.patch(f"{API}/users/alice", json={"language": "it"}), 200)[
        "language"] == "it"
    assert_error(admin.patch(f"{API}/users/alice", json={"language": "de"}), 422)
    assert body(admin.get(f"{API}/users/alice"), 200)["language"] == "it"
    assert body(admin.patch(f"{API}/users/alice", json={"language": None}), 200)[
        "language"] is None
