"""Central's settings: read from ``TESSERA_*`` environment variables once, then frozen."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from transport.broker_url import BrokerUrl, BrokerUrlError, parse_broker_url


class SettingsError(ValueError):
    """A configuration value that cannot be used."""


@dataclass(frozen=True)
class BrokerSettings:
    host: str
    port: int
    username: str | None
    password: str | None
    tls: bool
    keepalive: int


@dataclass(frozen=True)
class CentralSettings:
    database_url: str
    broker: BrokerSettings
    listen: str
    var_dir: Path
    web_workers: int
    publish_interval: float
    log_level: str
    # Broker access files written by central (see central/services/broker_access.py).
    broker_auth_dir: Path | None = None
    broker_pid_file: Path | None = None
    broker_reload_command: str | None = None
    # What enrolment hands to a new store: the broker URL as the shops reach it (often not
    # central's own, internal listener) and central's URL as the shops reach it.
    # None: central would have to hand out its own listener, which stores must never get
    # (enrolment is then refused until TESSERA_BROKER_PUBLIC_URL is set).
    broker_public_url: str | None = "mqtt://127.0.0.1:18830"
    public_url: str | None = None
    # The web console: the key that signs its session cookie (TESSERA_SECRET_KEY; without
    # it a key is made once under var_dir and shared by the workers), whether the cookie
    # is sent over HTTPS only, minutes without a click before signing in again, the
    # currency of the chain's amounts.
    secret_key: str | None = None
    cookie_secure: bool = False
    console_idle_minutes: int = 30
    currency: str = "EUR"
    # The time zone of a store created without one (an IANA name, checked at load).
    default_time_zone: str = "Europe/Rome"


def _broker_url(name: str, value: str) -> BrokerUrl:
    try:
        return parse_broker_url(value)
    except BrokerUrlError as exc:
        raise SettingsError(f"{name} {exc}") from exc


def parse_broker(env: Mapping[str, str],
                 default_url: str = "mqtt://127.0.0.1:18830") -> BrokerSettings:
    """Broker settings from ``TESSERA_BROKER_URL`` (mqtt:// or mqtts://) and credentials."""
    url = _broker_url("TESSERA_BROKER_URL", env.get("TESSERA_BROKER_URL", default_url))
    try:
        keepalive = int(env.get("TESSERA_BROKER_KEEPALIVE", "30"))
    except ValueError as exc:
        raise SettingsError("TESSERA_BROKER_KEEPALIVE must be a whole number of seconds") from exc
    return BrokerSettings(
        host=url.host,
        port=url.port,
        username=env.get("TESSERA_BROKER_USERNAME") or url.username,
        password=env.get("TESSERA_BROKER_PASSWORD") or url.password,
        tls=url.tls,
        keepalive=keepalive,
    )


def load(env: Mapping[str, str] | None = None) -> CentralSettings:
    """Parse and validate the environment; fail fast with the name of the bad variable."""
    env = os.environ if env is None else env
    var_dir = Path(env.get("TESSERA_VAR_DIR", "var")).resolve()
    database_url = env.get("TESSERA_DATABASE_URL") or f"sqlite:///{var_dir / 'central.db'}"
    if not database_url.startswith(("sqlite:", "postgresql:", "postgresql+psycopg:")):
        raise SettingsError("TESSERA_DATABASE_URL must be a sqlite:// or postgresql:// URL")
    if database_url.startswith("postgresql://"):
        database_url = "postgresql+psycopg://" + database_url[len("postgresql://"):]
    try:
        workers = int(env.get("TESSERA_WEB_WORKERS", "2"))
        idle = int(env.get("TESSERA_CONSOLE_IDLE_MINUTES", "30"))
        interval = float(env.get("TESSERA_PUBLISH_INTERVAL", "0.05"))
    except ValueError as exc:
        raise SettingsError(f"bad number in settings: {exc}") from exc
    return CentralSettings(
        database_url=database_url,
        broker=parse_broker(env),
        listen=env.get("TESSERA_CENTRAL_LISTEN", "127.0.0.1:8000"),
        var_dir=var_dir,
        web_workers=workers,
        publish_interval=interval,
        log_level=env.get("TESSERA_LOG_LEVEL", "INFO").upper(),
        broker_auth_dir=_path(env, "TESSERA_BROKER_AUTH_DIR"),
        broker_pid_file=_path(env, "TESSERA_BROKER_PID_FILE"),
        broker_reload_command=env.get("TESSERA_BROKER_RELOAD_COMMAND") or None,
        broker_public_url=_public_broker_url(env),
        public_url=env.get("TESSERA_CENTRAL_PUBLIC_URL") or None,
        secret_key=env.get("TESSERA_SECRET_KEY") or None,
        cookie_secure=_flag(env, "TESSERA_COOKIE_SECURE"),
        console_idle_minutes=_positive(idle, "TESSERA_CONSOLE_IDLE_MINUTES"),
        currency=_currency(env.get("TESSERA_CURRENCY", "EUR")),
        default_time_zone=_time_zone(env),
    )


def _flag(env: Mapping[str, str], name: str) -> bool:
    value = env.get(name, "").strip().lower()
    if value in ("", "0", "false", "no", "off"):
        return False
    if value in ("1", "true", "yes", "on"):
        return True
    raise SettingsError(f"{name} must be true or false, got {value!r}")


def _positive(value: int, name: str) -> int:
    if value < 1:
        raise SettingsError(f"{name} must be at least 1, got {value}")
    return value


def _currency(value: str) -> str:
    code = value.strip().upper()
    if len(code) != 3 or not code.isalpha():
        raise SettingsError(f"TESSERA_CURRENCY must be an ISO 4217 code like EUR, got {value!r}")
    return code


def _time_zone(env: Mapping[str, str]) -> str:
    name = env.get("TESSERA_DEFAULT_TIME_ZONE") or "Europe/Rome"
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise SettingsError(f"TESSERA_DEFAULT_TIME_ZONE must be an IANA time zone such as "
                            f"Europe/Rome, got {name!r}") from exc
    return name


def _public_broker_url(env: Mapping[str, str]) -> str | None:
    """The broker URL enrolment gives stores (TESSERA_BROKER_PUBLIC_URL).

    Without managed logins (the demo's anonymous broker) it defaults to central's own broker
    URL without credentials. Where central logs in (TESSERA_BROKER_USERNAME or _AUTH_DIR set),
    its listener has no client-id binding (docs/broker-security.md): then the public URL must
    be given and must name another listener, else None (enrolment refuses).
    """
    own = _broker_url("TESSERA_BROKER_URL", env.get("TESSERA_BROKER_URL",
                                                    "mqtt://127.0.0.1:18830"))
    managed = bool(env.get("TESSERA_BROKER_USERNAME") or env.get("TESSERA_BROKER_AUTH_DIR")
                   or own.username)
    value = env.get("TESSERA_BROKER_PUBLIC_URL")
    if value:
        public = _broker_url("TESSERA_BROKER_PUBLIC_URL", value)
        if managed and (public.host, public.port) == (own.host, own.port):
            return None
        return value
    if managed:
        return None
    return f"{'mqtts' if own.tls else 'mqtt'}://{own.host}:{own.port}"


def _path(env: Mapping[str, str], name: str) -> Path | None:
    value = env.get(name)
    return Path(value).resolve() if value else None
