"""``tessera agent counter-sim``: a people counter pushing its readings to a store agent.

It speaks the push format of ``POST /pos/v1/footfall`` (docs/till.md) like a real counter:
in/out counts per interval, the intervals that have ended, in batches. Counts come from a
seeded generator (busier at midday and late afternoon), so a run is repeatable; with
``--follow`` it keeps pushing each interval as it ends (the demo), and a push the agent does
not answer is kept and sent again with the next one, as counters do.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import time
from collections.abc import Iterator
from typing import Any

import click

BATCH = 500


def _floor(at: dt.datetime, minutes: int) -> dt.datetime:
    at = at.astimezone(dt.UTC).replace(second=0, microsecond=0)
    return at - dt.timedelta(minutes=at.minute % minutes if minutes <= 60 else 0)


def readings(seed: str, end: dt.datetime, minutes: int, intervals: int,
             mean: float) -> Iterator[dict[str, Any]]:
    """``intervals`` readings of ``minutes`` each, the last one ending at ``end``."""
    for back in range(intervals, 0, -1):
        start = end - dt.timedelta(minutes=minutes * back)
        yield reading(seed, start, minutes, mean)


def reading(seed: str, start: dt.datetime, minutes: int, mean: float) -> dict[str, Any]:
    """The counts of one interval: the same for the same seed and interval, so a counter
    started again repeats what it sent before (the agent counts it once)."""
    rng = random.Random(f"{seed}|{start.isoformat()}|{minutes}")
    hour = start.hour + start.minute / 60
    busy = 0.4 + 0.6 * max(0.0, 1 - abs(hour - 12.5) / 4) + 0.5 * max(0.0, 1 - abs(hour - 18) / 2)
    ins = max(0, round(rng.gauss(mean * busy, max(1.0, mean * busy) ** 0.5)))
    outs = max(0, ins + rng.randint(-2, 2))
    return {"start": start.isoformat(), "minutes": minutes, "in": ins, "out": outs}


def push(url: str, counter: str, batch: list[dict[str, Any]], timeout: float) -> dict[str, Any]:
    """One push; the agent's answer (raises click.ClickException on a refusal)."""
    import requests  # here, not at the top: `tessera` imports this module for every command

    response = requests.post(url, json={"counter": counter, "readings": batch},
                             timeout=timeout)
    if response.status_code != 200:
        raise click.ClickException(f"the agent refused the push ({response.status_code}): "
                                   f"{response.text.strip()}")
    answer: dict[str, Any] = response.json()
    return answer


@click.command("counter-sim")
@click.option("--agent-url", default="http://127.0.0.1:8101", show_default=True,
              help="The store agent's POS API.")
@click.option("--counter", default="door-1", show_default=True, help="The counter's id.")
@click.option("--minutes", default=15, show_default=True, type=click.IntRange(1, 1440),
              help="Length of an interval.")
@click.option("--intervals", default=8, show_default=True, type=click.IntRange(0, 100_000),
              help="How many past intervals to send first (ending at the last boundary).")
@click.option("--mean", default=10.0, show_default=True, type=click.FloatRange(0, 10_000),
              help="Average people coming in per interval at the busiest time.")
@click.option("--seed", default=1, show_default=True, help="Seed of the counts.")
@click.option("--end", "end_at", type=click.DateTime(["%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M%z"]),
              default=None, help="Where the past intervals end (default: the last interval "
              "boundary before now), e.g. 2026-11-22T12:00+00:00.")
@click.option("--follow", is_flag=True, help="Keep running: push each interval as it ends.")
@click.option("--timeout", default=10.0, show_default=True, help="Seconds per push.")
def counter_sim(agent_url: str, counter: str, minutes: int, intervals: int, mean: float,
                seed: int, end_at: dt.datetime | None, follow: bool, timeout: float) -> None:
    """Play a people counter: push in/out counts per interval to the agent.

    Prints one JSON line per push: readings sent, accepted, duplicates, people in and out.
    """
    import requests

    url = agent_url.rstrip("/") + "/pos/v1/footfall"
    rng_seed = f"{seed}|{counter}"
    end = _floor(end_at or dt.datetime.now(dt.UTC), minutes)
    pending = list(readings(rng_seed, end, minutes, intervals, mean))
    while True:
        while pending:
            batch = pending[:BATCH]
            try:
                answer = push(url, counter, batch, timeout)
            except requests.RequestException as exc:
                if not follow:
                    raise click.ClickException(f"the agent at {agent_url} does not answer: "
                                               f"{exc}") from exc
                break  # keep them for the next round, like a counter's memory
            except click.ClickException as exc:
                if not follow:
                    raise
                click.echo(exc.format_message(), err=True)  # refused: drop them, go on
            del pending[:len(batch)]
            click.echo(json.dumps({"readings": len(batch), **answer,
                                   "in": sum(r["in"] for r in batch),
                                   "out": sum(r["out"] for r in batch)}), nl=True)
        if not follow:
            return
        following = end + dt.timedelta(minutes=minutes)
        time.sleep(max(1.0, min(60.0, (following - dt.datetime.now(dt.UTC)).total_seconds())))
        if dt.datetime.now(dt.UTC) >= following:
            pending.append(reading(rng_seed, end, minutes, mean))
            end = following
