"""REST for signing in and for managing head-office users and their API tokens."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask.views import MethodView
from marshmallow import Schema, fields, validate

from central.api.access import now, principal
from central.api.requests import Blueprint
from central.services import auth
from central.transactions import db_session, transactional

auth_blp = Blueprint("auth", __name__, url_prefix="/api/v1/auth",
                     description="Sign in (a token for a username and password), who am I")
users_blp = Blueprint("users", __name__, url_prefix="/api/v1/users",
                      description="Head-office users, their roles and tokens (admin)")
tokens_blp = Blueprint("tokens", __name__, url_prefix="/api/v1/tokens",
                       description="API tokens (admin)")

ROLE = fields.String(validate=validate.OneOf(auth.ROLES))
PASSWORD = validate.Length(min=auth.MIN_PASSWORD, max=auth.MAX_PASSWORD)


class LoginIn(Schema):
    username = fields.String(required=True, validate=validate.Length(max=200))
    password = fields.String(required=True, load_only=True,
                             validate=validate.Length(max=auth.MAX_PASSWORD))
    name = fields.String(load_default="login", validate=validate.Length(min=1, max=100),
                         metadata={"description": "shown in token listings"})
    ttl_hours = fields.Float(load_default=12, validate=validate.Range(min=0.1, max=720),
                             metadata={"description": "the token expires after this"})


class TokenIn(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=100))
    ttl_hours = fields.Float(load_default=None, allow_none=True,
                             validate=validate.Range(min=0.1, max=24 * 366),
                             metadata={"description": "default: never expires"})


class TokenOut(Schema):
    id = fields.Integer()
    name = fields.String()
    prefix = fields.String(metadata={"description": "the token starts with tsr_<prefix>_"})
    user = fields.String(attribute="user.username")
    created_at = fields.AwareDateTime()
    expires_at = fields.AwareDateTime(allow_none=True)
    last_used_at = fields.AwareDateTime(allow_none=True,
                                        metadata={"description": "to the minute"})
    revoked_at = fields.AwareDateTime(allow_none=True)


class TokenCreated(TokenOut):
    token = fields.String(metadata={"description": "the secret: shown this once only; send "
                                                   "it as 'Authorization: Bearer <token>'"})


class UserOut(Schema):
    username = fields.String()
    roles = fields.Function(lambda u: [r for r in auth.ROLES if r in auth.roles_of(u)])
    active = fields.Boolean()
    has_password = fields.Function(lambda u: u.password_hash is not None)
    created_at = fields.AwareDateTime()
    failed_logins = fields.Integer()
    locked_until = fields.AwareDateTime(allow_none=True)
    language = fields.String(allow_none=True, metadata={
        "description": "the console's language for this user (en, it, fr, ro); null: the "
                       "browser's"})


class UserIn(Schema):
    username = fields.String(required=True, validate=validate.Length(min=1, max=64))
    roles = fields.List(ROLE, required=True, validate=validate.Length(min=1))
    password = fields.String(load_default=None, allow_none=True, load_only=True,
                             validate=PASSWORD,
                             metadata={"description": "none: the user signs in with tokens "
                                                      "only (scripts)"})


class UserPatch(Schema):
    roles = fields.List(ROLE, validate=validate.Length(min=1))
    active = fields.Boolean()
    password = fields.String(load_only=True, validate=PASSWORD)
    unlock = fields.Boolean(load_only=True,
                            metadata={"description": "lift a lock after failed logins"})
    language = fields.String(allow_none=True, validate=validate.OneOf(auth.LANGUAGES),
                             metadata={"description": "en, it, fr, ro; null: the browser's"})


class MeOut(Schema):
    username = fields.String()
    roles = fields.List(fields.String())
    token = fields.Nested(TokenOut)


# -- signing in -------------------------------------------------------------------------------

@auth_blp.route("/tokens")
class Login(MethodView):
    @auth_blp.arguments(LoginIn)
    @auth_blp.response(201, TokenCreated)
    @auth_blp.alt_response(401, description="wrong credentials, or the account is locked")
    def post(self, data: dict[str, Any]) -> Any:
        """Sign in: a username and password for a token (after 5 failures the account is
        locked for a while; the answer does not say which part was wrong)."""
        session = db_session()
        try:
            issued = auth.sign_in(session, data["username"], data["password"], data["name"],
                                  now(), dt.timedelta(hours=data["ttl_hours"]))
            session.commit()  # a failure counts even though the answer is 401
        except BaseException:
            session.rollback()
            raise
        if issued is None:
            raise auth.AuthenticationFailed("wrong username or password, or the account is "
                                            "locked after too many failures: try again later")
        return _created(*issued)


@auth_blp.route("/tokens/current")
class CurrentToken(MethodView):
    @auth_blp.response(200, TokenOut)
    @transactional
    def delete(self) -> Any:
        """Sign out: revoke the token this request carries."""
        return auth.revoke_token(db_session(), principal().token_id, now())


@auth_blp.route("/me")
class Me(MethodView):
    @auth_blp.response(200, MeOut)
    def get(self) -> Any:
        """The user behind the token of this request, its roles and the token."""
        who = principal()
        return {"username": who.username, "roles": [r for r in auth.ROLES if r in who.roles],
                "token": auth.get_token(db_session(), who.token_id)}


def _created(row: Any, secret: str) -> dict[str, Any]:
    """The token row as TokenOut shows it, with its secret."""
    return {**{name: getattr(row, name) for name in TokenOut().fields}, "token": secret}


# -- users ------------------------------------------------------------------------------------

@users_blp.route("/")
class Users(MethodView):
    @users_blp.response(200, UserOut(many=True))
    @users_blp.paginate()
    def get(self, pagination_parameters: Any) -> list[Any]:
        """List users."""
        items, total = auth.list_users(db_session(), pagination_parameters.page,
                                       pagination_parameters.page_size)
        pagination_parameters.item_count = total
        return items

    @users_blp.arguments(UserIn)
    @users_blp.response(201, UserOut)
    @transactional
    def post(self, data: dict[str, Any]) -> Any:
        """Create a user with roles, and a password unless it only uses tokens."""
        return auth.create_user(db_session(), data["username"], data["roles"],
                                data["password"], now())


@users_blp.route("/<username>")
class UserByName(MethodView):
    @users_blp.response(200, UserOut)
    def get(self, username: str) -> Any:
        """Read a user."""
        return auth.get_user(db_session(), username)

    @users_blp.arguments(UserPatch)
    @users_blp.response(200, UserOut)
    @transactional
    def patch(self, data: dict[str, Any], username: str) -> Any:
        """Change roles, active flag or password, or unlock (one active admin stays)."""
        return auth.update_user(db_session(), username, data)

    @users_blp.response(200, UserOut)
    @transactional
    def delete(self, username: str) -> Any:
        """Deactivate a user: no more sign-in, its tokens stop working; its history stays."""
        return auth.deactivate_user(db_session(), username)


@users_blp.route("/<username>/tokens")
class UserTokens(MethodView):
    @users_blp.response(200, TokenOut(many=True))
    def get(self, username: str) -> Any:
        """List a user's tokens (never their secrets)."""
        return auth.list_tokens(db_session(), username)

    @users_blp.arguments(TokenIn)
    @users_blp.response(201, TokenCreated)
    @transactional
    def post(self, data: dict[str, Any], username: str) -> Any:
        """Create a token for a user (a script's); the answer holds the secret, once."""
        ttl = None if data["ttl_hours"] is None else dt.timedelta(hours=data["ttl_hours"])
        return _created(*auth.issue_token(db_session(), username, data["name"], now(), ttl))


# -- tokens -----------------------------------------------------------------------------------

@tokens_blp.route("/<int:token_id>")
class TokenById(MethodView):
    @tokens_blp.response(200, TokenOut)
    @transactional
    def delete(self, token_id: int) -> Any:
        """Revoke a token: requests carrying it are refused from now on."""
        return auth.revoke_token(db_session(), token_id, now())


AUTH_BLUEPRINTS = (auth_blp, users_blp, tokens_blp)
