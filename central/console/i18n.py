"""Languages of the console (English, Italian, French, Romanian) and locale formatting.

The language is the one chosen in this browser's console session, which signing in sets to
the user's own language (``users.language``, their profile) when they have one; else the
best match of the browser's Accept-Language, else English. Choosing a language while signed
in also keeps it in the user's profile, for their next sign-in anywhere. Amounts go through Babel's
currency format (``1.234,50 €`` in Italian); times are stored in UTC and shown in the
store's time zone where a store is concerned and it has one, in UTC otherwise.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel.dates import format_datetime as babel_datetime
from babel.numbers import format_currency, format_decimal
from flask import Flask, current_app, request, session
from flask_babel import Babel, get_locale

LANGUAGES = {"en": "English", "it": "Italiano", "fr": "Français", "ro": "Română"}
DEFAULT = "en"
LANGUAGE = "lang"  # session key
TRANSLATIONS = Path(__file__).resolve().parent / "translations"


def select_locale() -> str:
    chosen = session.get(LANGUAGE)
    if chosen in LANGUAGES:
        return str(chosen)
    return request.accept_languages.best_match(list(LANGUAGES), default=DEFAULT) or DEFAULT


def choose(language: str) -> bool:
    """Remember ``language`` for this browser's session; False when it is not offered."""
    if language not in LANGUAGES:
        return False
    session[LANGUAGE] = language
    return True


def _locale() -> str:
    return str(get_locale() or DEFAULT)


def money(amount: Decimal | str | None, currency: str | None = None) -> str:
    """An amount in the chain's currency, formatted for the user's language."""
    if amount is None or amount == "":
        return ""
    code = currency or current_app.extensions["tessera.settings"].currency
    return format_currency(Decimal(str(amount)) if not isinstance(amount, Decimal) else amount,
                           code, locale=_locale())


def number(value: int | Decimal | None) -> str:
    return "" if value is None else format_decimal(value, locale=_locale())


def zone_of(store: Any) -> ZoneInfo | None:
    """The store's time zone when it has a valid one (``time_zone``), else None."""
    name = getattr(store, "time_zone", None) if store is not None else None
    if not name:
        return None
    try:
        return ZoneInfo(str(name))
    except (ZoneInfoNotFoundError, ValueError):
        return None


def when(moment: dt.datetime | None, store: Any = None) -> str:
    """A moment for people: in the store's zone if it has one (and named), else UTC."""
    if moment is None:
        return ""
    zone = zone_of(store)
    tz = zone or dt.UTC
    text = babel_datetime(moment.astimezone(tz), "medium", locale=_locale())
    return f"{text} {zone.key if zone else 'UTC'}"


def init_app(app: Flask) -> None:
    app.config.setdefault("BABEL_DEFAULT_LOCALE", DEFAULT)
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", str(TRANSLATIONS))
    Babel(app, locale_selector=select_locale)
    app.jinja_env.filters.update(money=money, number=number, when=when)
    app.jinja_env.globals.update(LANGUAGES=LANGUAGES, current_language=_locale)
