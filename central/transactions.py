"""The request's database session and the transaction around a view (REST and pages).

``db_session()`` opens the session of the current request on first use (the app factory
closes it at teardown); ``transactional`` commits it when the view returns, retrying the
few transactions PostgreSQL aborts for deadlocks and serialisation failures.
"""

from __future__ import annotations

import functools
import logging
import random
import time
from collections.abc import Callable
from typing import Any, TypeVar

from flask import current_app, g
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

log = logging.getLogger(__name__)
F = TypeVar("F", bound=Callable[..., Any])


def db_session() -> Session:
    """The session of the current request, opened on first use."""
    if "db_session" not in g:
        g.db_session = current_app.extensions["tessera.db"].sessions()
    session: Session = g.db_session
    return session


RETRYABLE = {"40P01", "40001"}  # deadlock detected, serialization failure
ATTEMPTS = 4


def _retryable(exc: BaseException) -> bool:
    return isinstance(exc, OperationalError) and \
        getattr(exc.orig, "sqlstate", None) in RETRYABLE


def _rewind(*values: Any) -> None:
    """Uploaded files of the request, back to their start for another attempt."""
    for value in values:
        items = value.values() if isinstance(value, dict) else [value]
        for item in items:
            stream = getattr(item, "stream", None)
            if stream is not None and hasattr(stream, "seek"):
                stream.seek(0)


def transactional(view: F) -> F:
    """Commit the request session when the view returns; roll back if it raises.

    Two writers can lock the same rows in opposite orders (a bulk price update and a single
    product edit both take the product rows and the stream head); PostgreSQL then aborts
    one of them. The aborted transaction left nothing behind, so it is run again, a few
    times, with a short random pause; then the error goes to the client.
    """

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        session = db_session()
        for attempt in range(1, ATTEMPTS + 1):
            try:
                result = view(*args, **kwargs)
                session.commit()
            except BaseException as exc:
                session.rollback()
                if attempt == ATTEMPTS or not _retryable(exc):
                    raise
                log.warning("transaction aborted by the database (%s); attempt %d of %d",
                            getattr(exc, "orig", exc).__class__.__name__, attempt + 1,
                            ATTEMPTS)
                _rewind(*args, *kwargs.values())
                time.sleep(random.uniform(0.01, 0.05) * attempt)
                continue
            return result
        raise AssertionError("unreachable")

    return wrapper  # type: ignore[return-value]
