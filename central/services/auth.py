"""Head-office users, their roles and passwords, API tokens, and login throttling.

Passwords are kept as argon2 hashes, tokens as the SHA-256 of the token: neither can be read
back from the database. A token looks like ``tsr_<prefix>_<secret>``; the prefix is stored
in clear so that listings can show which token is which, and it finds the row; the hash of
the whole token is then compared in constant time.

Five wrong passwords in a row lock an account for 15 minutes; every further five double the
lock (at most a day). Answers never tell a wrong password from an unknown, inactive or
locked user, and take as long (an unknown user's password is checked against a dummy hash).
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from central.models import ApiToken, User
from central.roles import ADMIN as ADMIN  # re-exported: the roles belong to this interface
from central.roles import CUSTOMER_SERVICE as CUSTOMER_SERVICE
from central.roles import MARKETING as MARKETING
from central.roles import PRICING as PRICING
from central.roles import READ_ONLY as READ_ONLY
from central.roles import ROLES as ROLES
from central.roles import TECHNICIAN as TECHNICIAN
from central.services.errors import Conflict, Invalid, NotFound, ServiceError

MIN_PASSWORD = 10
MAX_PASSWORD = 1024  # argon2 takes any length; a megabyte "password" is an attack
LOCK_AFTER = 5
FIRST_LOCK = dt.timedelta(minutes=15)
LONGEST_LOCK = dt.timedelta(days=1)
# last_used_at is a hint for people, not an audit trail: one write a minute per token at most
LAST_USED_STEP = dt.timedelta(minutes=1)

TOKEN_SCHEME = "tsr"
_TOKEN = re.compile(r"tsr_([0-9a-f]{8})_([A-Za-z0-9_-]{32,64})")
_USERNAME = re.compile(r"[a-z0-9][a-z0-9._@-]{0,63}")

_hasher = PasswordHasher()


class AuthenticationFailed(ServiceError):
    """No valid credentials: a missing, wrong, expired or revoked token, or a failed login."""

    status = 401


class PermissionDenied(ServiceError):
    """Valid credentials, but the user's roles do not allow this."""

    status = 403


# -- roles ------------------------------------------------------------------------------------

def roles_of(user: User) -> frozenset[str]:
    return frozenset(user.roles.split())


def may(roles: Iterable[str], allowed: Iterable[str]) -> bool:
    """Whether someone with ``roles`` may do what ``allowed`` roles may; admin may all."""
    held = set(roles)
    return ADMIN in held or bool(held & set(allowed))


def _roles_text(roles: Iterable[str]) -> str:
    chosen = set(roles)
    unknown = sorted(chosen - set(ROLES))
    if unknown:
        raise Invalid(f"unknown role {', '.join(unknown)}",
                      {"roles": [f"choose among {', '.join(ROLES)}"]})
    if not chosen:
        raise Invalid("a user needs at least one role", {"roles": ["at least one"]})
    return " ".join(sorted(chosen))


# -- users ------------------------------------------------------------------------------------

def normalise_username(username: str) -> str:
    return username.strip().lower()


def _valid_username(username: str) -> str:
    name = normalise_username(username)
    if not _USERNAME.fullmatch(name):
        raise Invalid("invalid username", {"username": [
            "1 to 64 of a-z, 0-9 and . _ @ -, starting with a letter or digit"]})
    return name


def find_user(session: Session, username: str) -> User | None:
    return session.scalars(
        select(User).where(User.username == normalise_username(username))).first()


def get_user(session: Session, username: str) -> User:
    user = find_user(session, username)
    if user is None:
        raise NotFound(f"no user {username}")
    return user


def list_users(session: Session, page: int, page_size: int) -> tuple[list[User], int]:
    total = int(session.scalar(select(func.count()).select_from(User)) or 0)
    users = session.scalars(select(User).order_by(User.username)
                            .offset((page - 1) * page_size).limit(page_size))
    return list(users), total


def create_user(session: Session, username: str, roles: Iterable[str], password: str | None,
                now: dt.datetime) -> User:
    """A new active user. Without a password it can only use tokens (scripts)."""
    name = _valid_username(username)
    if find_user(session, name) is not None:
        raise Conflict(f"user {name} already exists", {"username": ["already taken"]})
    user = User(username=name, roles=_roles_text(roles), password_hash=None, active=True,
                created_at=now, failed_logins=0)
    if password is not None:
        set_password(user, password)
    session.add(user)
    session.flush()
    return user


def set_password(user: User, password: str) -> None:
    """Replace the password (at least 10 characters); this also lifts a lock."""
    if len(password) < MIN_PASSWORD:
        raise Invalid("password too short",
                      {"password": [f"at least {MIN_PASSWORD} characters"]})
    if len(password) > MAX_PASSWORD:
        raise Invalid("password too long", {"password": [f"at most {MAX_PASSWORD} characters"]})
    if password.strip().lower() == user.username:
        raise Invalid("password equals the username", {"password": ["not the username"]})
    user.password_hash = _hasher.hash(password)
    unlock(user)


def unlock(user: User) -> None:
    user.failed_logins = 0
    user.locked_until = None


# The console's languages (central/console/i18n.py offers the same).
LANGUAGES = ("en", "it", "fr", "ro")


def check_language(language: str | None) -> str | None:
    """``language`` if the console offers it (None: none chosen); Invalid otherwise."""
    if language is None or language == "":
        return None
    if language not in LANGUAGES:
        raise Invalid("unknown language", {"language": [f"one of {', '.join(LANGUAGES)}"]})
    return language


def set_language(session: Session, user_id: int, language: str | None) -> User:
    """The user's own choice of the console's language (None: follow the browser)."""
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(f"no user {user_id}")
    user.language = check_language(language)
    session.flush()
    return user


def update_user(session: Session, username: str, changes: dict[str, Any]) -> User:
    """Change roles, active flag, password or language, or ``unlock``; keeps one active
    admin."""
    user = get_user(session, username)
    if "language" in changes:
        user.language = check_language(changes["language"])
    was_admin = user.active and ADMIN in roles_of(user)
    if "roles" in changes:
        user.roles = _roles_text(changes["roles"])
    if "active" in changes:
        user.active = bool(changes["active"])
    if was_admin and not (user.active and ADMIN in roles_of(user)):
        others = session.scalars(select(User).where(User.active.is_(True), User.id != user.id))
        if not any(ADMIN in roles_of(other) for other in others):
            raise Conflict(f"{user.username} is the last active admin",
                           {"roles": ["make another user admin first"]})
    if changes.get("password") is not None:
        set_password(user, changes["password"])
    if changes.get("unlock"):
        unlock(user)
    session.flush()
    return user


def deactivate_user(session: Session, username: str) -> User:
    """The user can no longer log in and its tokens stop working; its history stays."""
    return update_user(session, username, {"active": False})


# -- passwords and login ----------------------------------------------------------------------

@functools.cache
def _dummy_hash() -> str:
    return _hasher.hash(secrets.token_hex(16))


def _password_matches(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def lock_duration(failed_logins: int) -> dt.timedelta:
    """15 minutes at the 5th failure in a row, then twice as long at each further 5th."""
    doublings = min(failed_logins // LOCK_AFTER - 1, 10)
    return min(FIRST_LOCK * (1 << max(doublings, 0)), LONGEST_LOCK)


def login(session: Session, username: str, password: str, now: dt.datetime) -> User | None:
    """The user these credentials open, or None (whatever the reason: the caller commits
    either way, so that failures count)."""
    name = normalise_username(username)
    user = None
    if _USERNAME.fullmatch(name) and len(password) <= MAX_PASSWORD:
        # FOR UPDATE: concurrent wrong passwords all count (SQLite locks the whole file)
        user = session.scalars(select(User).where(User.username == name)
                               .with_for_update()).first()
    stored = user.password_hash if user is not None and user.active else None
    if user is None or stored is None or (user.locked_until is not None
                                          and now < user.locked_until):
        _password_matches(_dummy_hash(), password[:MAX_PASSWORD])  # takes as long
        return None
    if not _password_matches(stored, password):
        user.failed_logins += 1
        if user.failed_logins % LOCK_AFTER == 0:
            user.locked_until = now + lock_duration(user.failed_logins)
        return None
    unlock(user)
    if _hasher.check_needs_rehash(stored):
        user.password_hash = _hasher.hash(password)
    return user


# -- tokens -----------------------------------------------------------------------------------

def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(session: Session, user: User, name: str, now: dt.datetime,
                 ttl: dt.timedelta | None = None) -> tuple[ApiToken, str]:
    """A new token for ``user`` and its secret, which is shown once and never stored."""
    if not name.strip():
        raise Invalid("a token needs a name", {"name": ["required"]})
    while True:
        prefix = secrets.token_hex(4)
        if session.scalar(select(ApiToken.id).where(ApiToken.prefix == prefix)) is None:
            break
    secret = f"{TOKEN_SCHEME}_{prefix}_{secrets.token_urlsafe(32)}"
    row = ApiToken(user=user, name=name.strip(), prefix=prefix, token_hash=_digest(secret),
                   created_at=now, expires_at=None if ttl is None else now + ttl)
    session.add(row)
    session.flush()
    return row, secret


def issue_token(session: Session, username: str, name: str, now: dt.datetime,
                ttl: dt.timedelta | None = None) -> tuple[ApiToken, str]:
    """A new token for the active user ``username`` (a script's, made by an admin)."""
    user = get_user(session, username)
    if not user.active:
        raise Conflict(f"user {user.username} is inactive", {"username": ["inactive"]})
    return create_token(session, user, name, now, ttl)


def sign_in(session: Session, username: str, password: str, name: str, now: dt.datetime,
            ttl: dt.timedelta) -> tuple[ApiToken, str] | None:
    """A token for these credentials, or None; commit either way (failures count)."""
    user = login(session, username, password, now)
    return None if user is None else create_token(session, user, name, now, ttl)


def resolve_token(session: Session, presented: str, now: dt.datetime) -> ApiToken | None:
    """The live token row for ``presented`` (its user active), or None."""
    match = _TOKEN.fullmatch(presented)
    if match is None:
        return None
    row = session.scalars(select(ApiToken).where(ApiToken.prefix == match.group(1))).first()
    if row is None or not hmac.compare_digest(row.token_hash, _digest(presented)):
        return None
    if (row.revoked_at is not None or not row.user.active
            or (row.expires_at is not None and now >= row.expires_at)):
        return None
    if row.last_used_at is None or now - row.last_used_at >= LAST_USED_STEP:
        row.last_used_at = now
    return row


def authenticate_token(session: Session, presented: str, now: dt.datetime) -> User | None:
    """The user a bearer token stands for, or None when it is unknown, expired or revoked."""
    row = resolve_token(session, presented, now)
    return None if row is None else row.user


def list_tokens(session: Session, username: str) -> list[ApiToken]:
    user = get_user(session, username)
    return list(session.scalars(select(ApiToken).where(ApiToken.user_id == user.id)
                                .order_by(ApiToken.id)))


def get_token(session: Session, token_id: int) -> ApiToken:
    row = session.get(ApiToken, token_id)
    if row is None:
        raise NotFound(f"no token {token_id}")
    return row


def revoke_token(session: Session, token_id: int, now: dt.datetime) -> ApiToken:
    """Stop a token from working; revoking it again changes nothing."""
    row = get_token(session, token_id)
    if row.revoked_at is None:
        row.revoked_at = now
    session.flush()
    return row


def revoke_tokens_named(session: Session, user: User, name: str, now: dt.datetime) -> int:
    """Revoke the live tokens of ``user`` called ``name`` (the demo's token on a restart)."""
    rows = session.scalars(select(ApiToken).where(ApiToken.user_id == user.id,
                                                  ApiToken.name == name,
                                                  ApiToken.revoked_at.is_(None)))
    count = 0
    for row in rows:
        row.revoked_at = now
        count += 1
    session.flush()
    return count
