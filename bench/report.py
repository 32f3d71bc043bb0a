"""Writes a run's figures: ``latest.json`` (everything), ``latest.md`` (the table) and
``latest.png`` (ingest over time, fan-out latencies, figures against their targets)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

LONG = "600 s"
RESULTS = Path(__file__).resolve().parent / "results"
FIGURES = ("raw", "ingest_capacity", "ingest", "fanout", "bootstrap", "catchup", "agent_rss",
           "agent_cpu", "tabular_csv", "tabular_xlsx", "import", "customers_bootstrap",
           "customers_db", "customers_card", "customers_mobile", "customers_name",
           "customer_list_count", "console_products", "console_sales")


@dataclass(frozen=True)
class Row:
    key: str
    figure: str
    value: float | None
    unit: str
    target: str
    meets: bool | None
    ratio_to_raw: float | None
    limit: str


def _top_cpu(cpu: dict[str, float], count: int = 3) -> str:
    ranked = sorted(((v, k) for k, v in cpu.items() if not k.startswith("machine")),
                    reverse=True)[:count]
    parts = [f"{k} {v:.0f}%" for v, k in ranked]
    machine = cpu.get("machine (all users)")
    if machine is not None:
        parts.append(f"machine {machine:.0f}% of {200:.0f}%")
    return "CPU (% of one core): " + ", ".join(parts)


def rows(results: dict[str, Any]) -> list[Row]:
    """One row per figure, in a fixed order; a figure not measured has value None."""
    raw = results.get("raw", {}).get("small", {}).get("msgs_per_s")
    out: list[Row] = []

    def ratio(msgs_per_s: float | None) -> float | None:
        return round(msgs_per_s / raw, 5) if raw and msgs_per_s is not None else None

    small = results.get("raw", {}).get("small")
    out.append(Row("raw", "raw paho QoS 1 msgs/s, 1 publisher → 1 subscriber (64 B)",
                   small and small["msgs_per_s"], "msg/s", "—", None, 1.0 if small else None,
                   results.get("raw", {}).get("limit", "not measured")))
    cap = results.get("ingest_capacity")
    stores = f" ({cap['stores']} stores)" if cap else ""
    out.append(Row("ingest_capacity", "ingest capacity: 5-line sales committed at central, "
                   f"stores never resending (stall timeout {LONG}){stores}",
                   cap and cap["sales_per_s"], "sales/s", "≥ 5,000",
                   None if not cap else cap["sales_per_s"] >= 5000,
                   ratio(cap and cap["batches_per_s"]),
                   cap["limit"] if cap else "not measured"))
    ing = results.get("ingest")
    stores = f" ({ing['stores']} stores, default stall timeout 5 s)" if ing else ""
    out.append(Row("ingest", f"sustained ingest, 5-line sales committed at central{stores}",
                   ing and ing["sales_per_s"], "sales/s", "≥ 5,000",
                   None if not ing else ing["sales_per_s"] >= 5000,
                   ratio(ing and ing["batches_per_s"]),
                   ing["limit"] if ing else "not measured"))
    fan = results.get("fanout")
    detail = (f" ({fan['stores']} stores; p50 {fan['p50_ms']} ms, p95 {fan['p95_ms']} ms)"
              if fan else "")
    out.append(Row("fanout", f"fan-out p99, price commit → applied in store SQLite{detail}",
                   fan and fan["p99_ms"], "ms", "≤ 500 ms at 200 stores",
                   None if not fan else fan["p99_ms"] <= 500 and fan["missed"] == 0, None,
                   fan["limit"] if fan else "not measured"))
    boot = results.get("bootstrap")
    detail = f" ({boot['products']:,} products; no customers in the model)" if boot else ""
    out.append(Row("bootstrap", f"bootstrap of a new store{detail}",
                   boot and boot["seconds_from_connect"], "s", "≤ 10 s",
                   None if not boot else boot["seconds_from_connect"] <= 10,
                   ratio(boot and boot["messages_per_s"]),
                   boot["limit"] if boot else "not measured"))
    cat = results.get("catchup")
    out.append(Row("catchup", f"catch-up after {cat['changes']:,} offline changes" if cat
                   else "catch-up after offline changes",
                   cat and cat["seconds_from_connect"], "s", "≤ 10 s",
                   None if not cat else cat["seconds_from_connect"] <= 10,
                   ratio(cat and cat["messages_per_s"]),
                   cat["limit"] if cat else "not measured"))
    agent = results.get("agent")
    detail = (f" ({agent['products']:,} products; peak {agent['peak_rss_mb']} MB)"
              if agent else "")
    out.append(Row("agent_rss", f"agent RSS{detail}",
                   agent and agent["rss_mb"], "MB", "≤ 80 MB",
                   None if not agent else agent["rss_mb"] <= 80, None,
                   agent["limit"] if agent else "not measured"))
    out.append(Row("agent_cpu", "agent idle CPU" + (f" (over {agent['idle_window_s']:.0f} s)"
                                                    if agent else ""),
                   agent and agent["idle_cpu_percent"], "% of a core", "—", None, None,
                   agent["cpu_limit"] if agent else "not measured"))
    tab = results.get("tabular")
    rows_read = f" ({tab['rows']:,} rows)" if tab else ""
    csv_peak = tab and tab["csv_stream"]["peak_mib"]
    out.append(Row("tabular_csv", f"streamed CSV import read, peak memory{rows_read}",
                   csv_peak, "MiB", "≤ 5 MiB, whatever the rows",
                   None if csv_peak is None else csv_peak <= 5, None,
                   tab["csv_limit"] if tab else "not measured"))
    xlsx_peak = tab and tab["xlsx_stream"]["peak_mib"]
    out.append(Row("tabular_xlsx", f"streamed XLSX import read, peak memory{rows_read}",
                   xlsx_peak, "MiB", "≤ 64 MiB at 200k rows",
                   None if xlsx_peak is None else xlsx_peak <= 64, None,
                   tab["xlsx_limit"] if tab else "not measured"))
    imp = results.get("import")
    detail = f" ({imp['rows']:,} partner member rows, 1% bad)" if imp else ""
    out.append(Row("import", f"import runner on PostgreSQL, first import{detail}",
                   imp and imp["first"]["rows_per_s"], "rows/s",
                   "no speed target (K6); exact report of bad rows, re-import changes nothing",
                   imp.get("acceptance") if imp else None, None,
                   imp["limit"] if imp else "not measured"))
    out.extend(customer_rows(results.get("customers")))
    lists = results.get("customer_lists")
    detail = (f" ({lists['customers']:,} customers, {lists['criteria']} criteria)"
              if lists else "")
    out.append(Row("customer_list_count", f"central customer list count, p50{detail}",
                   lists and lists["count_p50_s"], "s", "≤ 1 s",
                   None if not lists else lists["count_p50_s"] <= 1, None,
                   lists["limit"] if lists else "not measured"))
    con = results.get("console")
    for key, name, count in (("product_list", "products", "products"),
                             ("sales_list", "sales", "sales")):
        figure = con and con[key]
        detail = f" ({con[count]:,} {count})" if con else ""
        out.append(Row(f"console_{name}", f"console {name} list page, p95 render{detail}",
                       figure and figure["p95_ms"], "ms", "≤ 300 ms",
                       None if not figure else figure["p95_ms"] <= 300, None,
                       figure["limit"] if figure else "not measured"))
    return out


def customer_rows(cus: dict[str, Any] | None) -> list[Row]:
    """The store's copy of the chain's customers (bench/customers.py)."""
    n = f" ({cus['customers']:,} customers)" if cus else ""
    load = ("Python per customer: JSON decode, schema loads, two entry hashes, the row's "
            "text; parts staged as they come, indexes built at the swap "
            f"({cus['bootstrap_cpu_s']} CPU s of {cus['bootstrap_s']} s)"
            if cus else "not measured")
    lookup = ("one indexed SQLite read (FTS5 prefix query for names) and the till's view: "
              "policy, cards, alerts compiled per lookup; p99 shares 2 cores with others"
              if cus else "not measured")

    def row(key: str, figure: str, value: float | None, unit: str, target: float) -> Row:
        return Row(key, figure + n, value, unit, f"≤ {target:g} {unit}",
                   None if value is None else value <= target, None,
                   load if key in ("customers_bootstrap", "customers_db") else lookup)

    return [
        row("customers_bootstrap", "store customers bootstrap (snapshot)",
            cus and cus["bootstrap_s"], "s", 60),
        row("customers_db", "store database with the customers", cus and cus["db_mb"], "MB",
            500),
        row("customers_card", "customer by card, p99", cus and cus["card"]["p99_ms"], "ms", 5),
        row("customers_mobile", "customer by mobile, p99", cus and cus["mobile"]["p99_ms"],
            "ms", 5),
        row("customers_name", "customer name search, p99", cus and cus["name"]["p99_ms"],
            "ms", 50),
    ]


def markdown(results: dict[str, Any]) -> str:
    meta = results["meta"]
    lines = [f"# Tessera fleet benchmark — {meta['finished_at']}", "",
             f"{meta['stores']} stores, {meta['cores']} cores, {meta['ingest_workers']} ingest "
             f"workers, mode {'quick' if meta['quick'] else 'full'}; "
             f"{meta['seconds']:.0f} s. Targets are reported, not asserted.", "",
             "| figure | value | target | ratio to raw limit | what limits it |",
             "|---|---|---|---|---|"]
    for row in rows(results):
        value = "not measured" if row.value is None else f"{row.value:,} {row.unit}"
        if row.meets is not None:
            value += " ✅" if row.meets else " ❌"
        ratio = "—" if row.ratio_to_raw is None else f"{row.ratio_to_raw:.2%}"
        lines.append(f"| {row.figure} | {value} | {row.target} | {ratio} | "
                     f"{row.limit.replace('|', '/')} |")
    lines += ["", "Ratio to raw limit: MQTT messages/s the figure needed (ingest: batches of "
              "100 sales; bootstrap and catch-up: chunks of 500 changes) divided by the raw "
              "paho QoS 1 rate through the same broker.", ""]
    for note in meta.get("notes", []):
        lines.append(f"- {note}")
    return "\n".join(lines) + "\n"


def chart(results: dict[str, Any], path: Path) -> bool:
    """The PNG; False when matplotlib is missing (``pip install -e '.[bench]'``)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    fig, axes = plt.subplots(2, 2, figsize=(12, 8))
    ing = results.get("ingest")
    ax = axes[0][0]
    for key, label in (("ingest_capacity", "no resends"), ("ingest", "stall timeout 5 s")):
        figure = results.get(key)
        if figure and figure["series"]:
            ax.plot([t for t, _ in figure["series"]], [n for _, n in figure["series"]],
                    label=f"{label}: {figure['sales_per_s']:,} sales/s")
            ax.set_title("(a) sales committed at central")
            ax.set_xlabel("s")
            ax.set_ylabel("sales")
            ax.legend()
    fan = results.get("fanout")
    ax = axes[0][1]
    if fan and fan.get("latencies_ms"):
        values = sorted(fan["latencies_ms"])
        ax.plot(values, [i / len(values) for i in range(1, len(values) + 1)])
        ax.axvline(500, color="red", linestyle="--", label="target p99")
        ax.set_title(f"(b) fan-out to {fan['stores']} stores: p99 {fan['p99_ms']} ms")
        ax.set_xlabel("ms after commit")
        ax.set_ylabel("fraction of deliveries")
        ax.legend()
    ax = axes[1][0]
    targets = {"ingest_capacity": 5000, "ingest": 5000, "fanout": 500, "bootstrap": 10,
               "catchup": 10, "agent_rss": 80}
    measured = [r for r in rows(results) if r.key in targets and r.value is not None]
    if measured:
        # value / target, inverted for "higher is better" so that below 1 is always good.
        scores = [targets[r.key] / r.value if r.key.startswith("ingest") and r.value else
                  r.value / targets[r.key] for r in measured]
        ax.bar([r.key.replace("ingest_capacity", "capacity") for r in measured], scores,
               color=["tab:green" if s <= 1 else "tab:red" for s in scores])
        ax.axhline(1, color="black", linestyle="--")
        ax.set_title("figure vs target (≤ 1 meets it)")
        ax.set_yscale("log")
    ax = axes[1][1]
    rates = {"raw QoS 1": (results.get("raw", {}).get("small") or {}).get("msgs_per_s"),
             "ingest batches": ing and ing["batches_per_s"],
             "bootstrap chunks": (results.get("bootstrap") or {}).get("messages_per_s"),
             "catch-up chunks": (results.get("catchup") or {}).get("messages_per_s")}
    shown = {k: v for k, v in rates.items() if v}
    if shown:
        ax.bar(list(shown), list(shown.values()))
        ax.set_title("MQTT messages/s")
        ax.set_yscale("log")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def write(results: dict[str, Any], directory: Path = RESULTS) -> dict[str, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    paths = {"json": directory / "latest.json", "md": directory / "latest.md",
             "png": directory / "latest.png"}
    results["figures"] = [row.__dict__ for row in rows(results)]
    paths["json"].write_text(json.dumps(results, indent=2, default=str) + "\n")
    paths["md"].write_text(markdown(results))
    if not chart(results, paths["png"]):
        results["meta"].setdefault("notes", []).append(
            "no chart: matplotlib is missing (pip install -e '.[bench]')")
        paths["md"].write_text(markdown(results))
        del paths["png"]
    return paths
