"""What limits each figure: the CPU each part used while it was measured, plus what the
code does on that path (read from the code, and named so that it can be checked)."""

from __future__ import annotations

from typing import Any

from bench.report import _top_cpu


def explain(results: dict[str, Any]) -> None:
    """Add a ``limit`` text to every measured figure of ``results``."""
    raw = results.get("raw")
    if raw:
        raw["limit"] = "paho's Python network loop (one thread per client) on each side"
    for key in ("ingest", "fanout", "bootstrap", "catchup"):
        figure = results.get(key)
        if figure:
            figure["limit"] = _top_cpu(figure.get("cpu_percent_of_one_core", {}))
    agent = results.get("agent")
    if agent:
        agent["limit"] = "Python interpreter + imports"
        agent["cpu_limit"] = "periodic catch-up request"
