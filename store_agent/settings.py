"""The agent's settings: ``TESSERA_*`` environment variables, parsed once, frozen."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import ParseResult, parse_qs, unquote, urlparse
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from rules.cards import CardRange
from transport.broker_url import BrokerUrlError, parse_broker_url


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
    # PEM bundle of the CA that signed the broker's certificate (mqtts:// with a private CA).
    ca_file: str | None = None


@dataclass(frozen=True)
class SmtpSettings:
    """Where e-mail receipts go out (TESSERA_SMTP_URL)."""

    host: str
    port: int
    security: str  # "none" | "starttls" | "tls"
    username: str | None = None
    password: str | None = None
    timeout: float = 20.0


SMTP_SCHEMES = {"smtp": ("none", 25), "smtp+starttls": ("starttls", 587), "smtps": ("tls", 465)}


def parse_smtp(value: str | None) -> SmtpSettings | None:
    """``smtp://host:25``, ``smtp+starttls://user:pass@host:587`` or ``smtps://host:465``."""
    if not value:
        return None
    url = urlparse(value)
    if url.scheme not in SMTP_SCHEMES or not url.hostname:
        raise SettingsError("TESSERA_SMTP_URL must look like smtp://host:port, "
                            "smtp+starttls://user:password@host:587 or smtps://host:465")
    security, port = SMTP_SCHEMES[url.scheme]
    return SmtpSettings(host=url.hostname, port=url.port or port, security=security,
                        username=unquote(url.username) if url.username else None,
                        password=unquote(url.password) if url.password else None)


@dataclass(frozen=True)
class ReceiptPrinterSettings:
    """A non-fiscal ESC/POS printer (TESSERA_RECEIPT_PRINTER_URL)."""

    kind: str  # "tcp" | "serial" | "file"
    address: str
    baudrate: int = 9600
    timeout: float = 10.0


def parse_receipt_printer(value: str | None) -> ReceiptPrinterSettings | None:
    """``escpos+tcp://host:9100``, ``escpos+serial:///dev/ttyS0?baud=19200`` or
    ``escpos+file:///dev/usb/lp0``."""
    if not value:
        return None
    name = "TESSERA_RECEIPT_PRINTER_URL"
    url = urlparse(value)
    kind = url.scheme.removeprefix("escpos+")
    if not url.scheme.startswith("escpos+") or kind not in ("tcp", "serial", "file"):
        raise SettingsError(f"{name} must start with escpos+tcp://, escpos+serial:// or "
                            "escpos+file://")
    if kind == "tcp":
        try:
            port = url.port or 9100
        except ValueError as exc:
            raise SettingsError(f"{name}: bad port") from exc
        if not url.hostname:
            raise SettingsError(f"{name} must look like escpos+tcp://host:9100")
        return ReceiptPrinterSettings("tcp", f"{url.hostname}:{port}")
    if not url.path:
        raise SettingsError(f"{name} needs a device path, e.g. escpos+serial:///dev/ttyS0")
    baud = parse_qs(url.query).get("baud", ["9600"])[-1]
    if not baud.isdigit():
        raise SettingsError(f"{name}: baud must be a number")
    return ReceiptPrinterSettings(kind, url.path, int(baud))


@dataclass(frozen=True)
class CustomerSettings:
    """The store's country (default region of phone numbers typed without +) and its range
    of chain cards for customers made here (``TESSERA_CARD_RANGE=prefix:first-last``)."""

    country: str = "ZZ"
    card_range: CardRange | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> CustomerSettings:
        country = env.get("TESSERA_STORE_COUNTRY", "").strip().upper() or "ZZ"
        raw = env.get("TESSERA_CARD_RANGE", "").strip()
        card_range = None
        if raw:
            try:
                prefix, _, span = raw.partition(":")
                first, _, last = span.partition("-")
                card_range = CardRange(prefix, int(first), int(last))
            except ValueError as exc:  # CardError is one
                raise SettingsError(f"TESSERA_CARD_RANGE must look like 2990001:1-99999: {exc}"
                                 ) from None
        return cls(country, card_range)


@dataclass(frozen=True)
class AgentSettings:
    store: str
    database: Path
    broker: BrokerSettings
    pos_host: str
    pos_port: int
    var_dir: Path
    central_url: str | None
    stall_timeout: float
    catch_up_interval: float
    batch_size: int
    log_level: str
    uplink_window: int = 1
    smtp: SmtpSettings | None = None
    receipt_printer: ReceiptPrinterSettings | None = None
    printer: PrinterSettings | None = None  # the fiscal device
    display_dir: Path | None = None  # the customer display's promotional content
    # The store's country (phones) and card range (TESSERA_STORE_COUNTRY, TESSERA_CARD_RANGE)
    customers: CustomerSettings = field(default_factory=CustomerSettings)


def _number(env: Mapping[str, str], name: str, default: str) -> float:
    try:
        value = float(env.get(name, default))
    except ValueError as exc:
        raise SettingsError(f"{name} must be a number") from exc
    if value <= 0:
        raise SettingsError(f"{name} must be above 0")
    return value


def _ca_file(env: Mapping[str, str]) -> str | None:
    value = env.get("TESSERA_BROKER_CA_FILE")
    if not value:
        return None
    path = Path(value).resolve()
    if not path.is_file():
        raise SettingsError(f"TESSERA_BROKER_CA_FILE: no file {path}")
    return str(path)


SITE_CONFIG = "/etc/tessera/agent.env"
# What enrolment writes: a site file may repeat these only with the enrolled value.
ENROLLED_KEYS = ("TESSERA_STORE_CODE", "TESSERA_BROKER_URL", "TESSERA_BROKER_USERNAME",
                 "TESSERA_BROKER_PASSWORD", "TESSERA_AGENT_DB")


def site_config_path(env: Mapping[str, str]) -> Path | None:
    """The site overrides (``TESSERA_SITE_CONFIG``, default /etc/tessera/agent.env); an
    empty value means none."""
    value = env.get("TESSERA_SITE_CONFIG", SITE_CONFIG)
    return Path(value).resolve() if value else None


def site_env(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The process environment over the site overrides: where every agent command starts."""
    env = os.environ if env is None else env
    site = site_config_path(env)
    return {**(read_config(site) if site else {}), **env}


def config_path(env: Mapping[str, str]) -> Path:
    """Where `tessera agent enroll` writes, and `tessera agent run` reads, the config."""
    default = Path(env.get("TESSERA_VAR_DIR", "var")) / "agent.env"
    return Path(env.get("TESSERA_AGENT_CONFIG") or default).resolve()


def enrolment_paths(store: str | None = None,
                    env: Mapping[str, str] | None = None) -> tuple[Path, Path]:
    """Where enrolment writes the configuration, and the database of ``store``.

    ``TESSERA_AGENT_DB`` wins for the database; otherwise it sits beside the configuration.
    """
    env = site_env(env)
    config = config_path(env)
    explicit = env.get("TESSERA_AGENT_DB")
    database = Path(explicit) if explicit else config.parent / f"agent-{store or 'store'}.db"
    return config, database.resolve()


def read_config(path: Path) -> dict[str, str]:
    """``KEY=VALUE`` lines (comments and blanks ignored), as systemd's EnvironmentFile."""
    values: dict[str, str] = {}
    if not path.exists():
        return values
    try:
        text = path.read_text()
    except OSError as exc:
        raise SettingsError(f"cannot read {path}: {exc.strerror}") from exc
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.startswith("TESSERA_"):
            raise SettingsError(f"{path}:{number}: expected TESSERA_NAME=value")
        values[key.strip()] = value.strip()
    return values


def merged_env(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The settings every agent command uses, lowest first: what enrolment wrote
    (``TESSERA_AGENT_CONFIG``, default ``$TESSERA_VAR_DIR/agent.env``), the site overrides
    (``TESSERA_SITE_CONFIG``, default /etc/tessera/agent.env), the process environment.

    A site file that contradicts the enrolment on the store's identity, broker login or
    database is refused: a copied example must never silently replace enrolled values.
    """
    env = os.environ if env is None else env
    site_path = site_config_path(env)
    site = read_config(site_path) if site_path else {}
    outer = {**site, **env}
    enrolled_path = config_path(outer)
    enrolled = read_config(enrolled_path)
    for key in ENROLLED_KEYS:
        if key in site and key in enrolled and site[key] != enrolled[key] and key not in env:
            raise SettingsError(f"{site_path} sets {key}, which contradicts the enrolment in "
                                f"{enrolled_path}: remove that line (enrolment writes it)")
    merged = {**enrolled, **outer}
    merged.setdefault("TESSERA_AGENT_CONFIG", str(enrolled_path))
    return merged


def load(env: Mapping[str, str] | None = None) -> AgentSettings:
    """Parse and validate :func:`merged_env`; the message names the variable that is wrong."""
    env = merged_env(env)
    store = env.get("TESSERA_STORE_CODE", "")
    if not store:
        site = site_config_path(env)
        raise SettingsError(f"no enrolment found: {env['TESSERA_AGENT_CONFIG']} does not exist "
                            f"or names no store (nor does {site or 'a site file'} or the "
                            "environment). Enrol with `tessera agent enroll`, or point "
                            "TESSERA_VAR_DIR (or TESSERA_AGENT_CONFIG) at where enrolment "
                            "wrote it")
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}", store):
        raise SettingsError("TESSERA_STORE_CODE must be set to the store code "
                            "(letters, digits, '.', '_', '-')")
    var_dir = Path(env.get("TESSERA_VAR_DIR", "var")).resolve()
    try:
        url = parse_broker_url(env.get("TESSERA_BROKER_URL", "mqtt://127.0.0.1:18830"))
    except BrokerUrlError as exc:
        raise SettingsError(f"TESSERA_BROKER_URL {exc}") from exc
    listen = env.get("TESSERA_POS_LISTEN", "127.0.0.1:8101")
    host, _, port = listen.rpartition(":")
    if not host or not port.isdigit():
        raise SettingsError("TESSERA_POS_LISTEN must be host:port")
    return AgentSettings(
        store=store,
        database=Path(env.get("TESSERA_AGENT_DB") or var_dir / f"agent-{store}.db").resolve(),
        broker=BrokerSettings(
            host=url.host, port=url.port,
            username=env.get("TESSERA_BROKER_USERNAME") or url.username or store,
            password=env.get("TESSERA_BROKER_PASSWORD") or url.password, tls=url.tls,
            keepalive=int(_number(env, "TESSERA_BROKER_KEEPALIVE", "30")),
            ca_file=_ca_file(env)),
        pos_host=host,
        pos_port=int(port),
        var_dir=var_dir,
        central_url=env.get("TESSERA_CENTRAL_URL"),
        stall_timeout=_number(env, "TESSERA_STALL_TIMEOUT", "5"),
        catch_up_interval=_number(env, "TESSERA_CATCH_UP_INTERVAL", "30"),
        batch_size=int(_number(env, "TESSERA_BATCH_SIZE", "100")),
        uplink_window=int(_number(env, "TESSERA_UPLINK_WINDOW", "1")),
        log_level=env.get("TESSERA_LOG_LEVEL", "INFO").upper(),
        smtp=parse_smtp(env.get("TESSERA_SMTP_URL")),
        receipt_printer=parse_receipt_printer(env.get("TESSERA_RECEIPT_PRINTER_URL")),
        printer=_printer(env),
        display_dir=Path(env.get("TESSERA_DISPLAY_DIR") or var_dir / "display").resolve(),
        customers=CustomerSettings.from_env(env),
    )


@dataclass(frozen=True)
class PrinterSettings:
    """The fiscal printer, from ``TESSERA_PRINTER_URL``.

    ``datecs+tcp://HOST:PORT`` or ``datecs+serial:///dev/ttyUSB0?baud=115200``; optional
    query parameters ``dialect`` (``auto``, ``byte``, ``x``) and ``tz`` (the device clock's
    zone, an IANA name; default UTC).
    """

    driver: str
    transport: str
    address: str
    baudrate: int
    dialect: str
    timezone: str
    vat_rates: tuple[tuple[str, str], ...] = ()
    """The software journal's VAT groups, e.g. (("A", "19"), ("B", "9"))."""


PRINTER_DRIVERS = ("datecs", "journal", "rt")
JOURNAL_VAT = "A:19,B:9,C:5,D:0"


def _journal(url: ParseResult, name: str) -> PrinterSettings:
    """``journal:///var/lib/tessera/fiscal.jsonl?vat=A:19,B:9,C:5,D:0``."""
    query = {key: values[-1] for key, values in parse_qs(url.query).items()}
    if set(query) - {"vat"}:
        raise SettingsError(f"{name}: the journal takes only ?vat=A:19,B:9,...")
    if not url.path:
        raise SettingsError(f"{name} must look like journal:///path/to/fiscal.jsonl")
    rates = []
    for item in query.get("vat", JOURNAL_VAT).split(","):
        group, _, rate = item.partition(":")
        if group not in "ABCDEFGH" or len(group) != 1 or not re.fullmatch(r"\d{1,2}(\.\d{1,2})?",
                                                                          rate):
            raise SettingsError(f"{name}: vat must look like A:19,B:9 (group:percent)")
        rates.append((group, rate))
    return PrinterSettings("journal", "file", str(Path(url.path).resolve()), 0, "journal",
                           "UTC", tuple(rates))
BAUD_RATES = (1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200)


def load_printer(env: Mapping[str, str] | None = None) -> PrinterSettings | None:
    """The printer settings alone (the printer commands need no store identity), or None
    when no printer is configured."""
    return _printer(merged_env(env))


def _printer(env: Mapping[str, str]) -> PrinterSettings | None:
    raw = env.get("TESSERA_PRINTER_URL", "").strip()
    if not raw:
        return None
    name = "TESSERA_PRINTER_URL"
    url = urlparse(raw)
    if url.scheme == "journal":
        return _journal(url, name)
    if url.scheme in ("rt+http", "rt+https"):
        if not url.hostname:
            raise SettingsError(f"{name} must look like rt+http://printer-address")
        query = {key: values[-1] for key, values in parse_qs(url.query).items()}
        zone = query.get("tz", "Europe/Rome")
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise SettingsError(f"{name}: unknown time zone {zone!r}") from exc
        return PrinterSettings("rt", "http", raw.removeprefix("rt+").split("?")[0], 0, "rt",
                               zone)
    driver, _, transport = url.scheme.partition("+")
    if driver != "datecs" or transport not in ("tcp", "serial"):
        raise SettingsError(f"{name} must start with datecs+tcp://, datecs+serial://, "
                            "rt+http:// or journal://")
    query = {key: values[-1] for key, values in parse_qs(url.query).items()}
    unknown = set(query) - {"baud", "dialect", "tz"}
    if unknown:
        raise SettingsError(f"{name}: unknown parameters {', '.join(sorted(unknown))}")
    if transport == "tcp":
        try:
            port = url.port
        except ValueError as exc:
            raise SettingsError(f"{name}: bad port") from exc
        if not url.hostname or not port:
            raise SettingsError(f"{name} must look like datecs+tcp://host:port")
        address = f"{url.hostname}:{port}"
    else:
        address = url.path
        if not address:
            raise SettingsError(f"{name} must look like datecs+serial:///dev/ttyUSB0")
    baud = query.get("baud", "115200")
    if not baud.isdigit() or int(baud) not in BAUD_RATES:
        raise SettingsError(f"{name}: baud must be one of {', '.join(map(str, BAUD_RATES))}")
    dialect = query.get("dialect", "auto")
    if dialect not in ("auto", "byte", "x"):
        raise SettingsError(f"{name}: dialect must be auto, byte or x")
    zone = query.get("tz", "UTC")
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise SettingsError(f"{name}: unknown time zone {zone!r}") from exc
    return PrinterSettings(driver, transport, address, int(baud), dialect, zone)
