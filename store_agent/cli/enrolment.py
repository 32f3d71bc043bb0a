"""`tessera agent enroll`: one step from a bare shop PC to a store with a full local copy."""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any


class EnrolmentError(RuntimeError):
    """Enrolment could not be completed; the message says what to do."""


def central_base(url: str) -> str:
    """Head office's address as the technician may type it: without a trailing slash, and
    without the API prefix the demo banner shows (``.../api/v1``)."""
    base = url.strip().rstrip("/")
    return base.removesuffix("/api/v1").rstrip("/")


def redeem(central_url: str, code: str, timeout: float = 15) -> dict[str, Any]:
    """Exchange the one-time code at central for the store identity and credentials."""
    url = central_base(central_url) + "/api/v1/enrolments"
    request = urllib.request.Request(
        url, data=json.dumps({"code": code}).encode(), method="POST",
        headers={"Content-Type": "application/json", "Accept": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            result = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        raise refusal(exc.code, exc.read(), central_url) from exc
    except (urllib.error.URLError, OSError) as exc:
        raise EnrolmentError(f"cannot reach central at {central_url}: {exc}") from exc
    except ValueError as exc:
        raise _not_central(central_url, "it answered something other than JSON") from exc
    if not isinstance(result, dict) or not {"store", "broker"} <= set(result):
        raise _not_central(central_url, "its answer is not an enrolment")
    return result


def _not_central(central_url: str, why: str) -> EnrolmentError:
    return EnrolmentError(f"{central_url} does not look like head office's address ({why}); "
                          "give --central the address of central's web server, as in "
                          "https://central.example.net (no path)")


def refusal(status: int, body: bytes, central_url: str) -> EnrolmentError:
    """What an HTTP error answer to a redemption means for the technician."""
    try:
        answer = json.loads(body)
    except ValueError:
        answer = None
    message = answer.get("message") if isinstance(answer, dict) else None
    if status == 403 and message:
        return EnrolmentError(f"central refused the code: {message}")
    if status == 422 and message:
        return EnrolmentError(f"central refused the request: {message}")
    if status in (401, 404, 405) or message is None:
        return _not_central(central_url, f"POST /api/v1/enrolments answered {status}")
    if status >= 500:
        return EnrolmentError(f"central could not enrol this store ({status}): {message}")
    return EnrolmentError(f"central answered {status}: {message}")


def config_lines(result: Mapping[str, Any], central_url: str, database: Path) -> list[str]:
    broker = result["broker"]
    values = {
        "TESSERA_STORE_CODE": result["store"]["code"],
        "TESSERA_BROKER_URL": broker["url"],
        "TESSERA_BROKER_USERNAME": broker["username"],
        "TESSERA_BROKER_PASSWORD": broker["password"],
        "TESSERA_CENTRAL_URL": result.get("central_url") or central_url,
        "TESSERA_AGENT_DB": str(database),
    }
    for key, value in values.items():
        if "\n" in str(value):
            raise EnrolmentError(f"central sent an unusable {key}")
    return [f"{key}={value}" for key, value in values.items()]


def write_config(path: Path, lines: list[str]) -> None:
    """Write the agent's configuration with its secrets readable by the owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write("# Written by `tessera agent enroll`; holds this store's broker secret.\n")
        handle.write("\n".join(lines) + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.chmod(temp, 0o600)
    os.replace(temp, path)


def wait_bootstrapped(targets: Mapping[str, int], current: Callable[[], Mapping[str, int]],
                      progress: Callable[[int], None], timeout: float,
                      step: float = 0.2) -> bool:
    """Wait until every stream reached its target version, reporting changes applied."""
    total = sum(targets.values())
    deadline = time.monotonic() + timeout
    while True:
        held = current()
        done = sum(min(held.get(stream, 0), version) for stream, version in targets.items())
        progress(done)
        if done >= total:
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(step)
