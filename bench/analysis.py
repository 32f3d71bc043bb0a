"""What limits each figure: the CPU each part used while it was measured, plus what the
code does on that path (read from the code and profiled; named so it can be checked)."""

from __future__ import annotations

from typing import Any

from bench.report import _top_cpu

INGEST_PATH = (
    "central/services/upstream.py ingest_batch (sales.py records the sales): one transaction "
    "per 100-sale batch (cursor row "
    "lock, sale bodies read by protocol/sale_body, the sales in one multi-row INSERT ... ON "
    "CONFLICT (uuid) DO NOTHING, their lines by COPY; ~8 statements), about 20-25 ms of "
    "Python per batch (JSON decoding ~4, reading the sales ~5, the inserts ~8); one batch at "
    "a time per `central ingest` process, whose re-pricing thread gives way while batches "
    "come; stores keep one batch in flight each")
FANOUT_PATH = (
    "publisher polls the change log every TESSERA_PUBLISH_INTERVAL (50 ms) and waits for "
    "each PUBACK; one broadcast message per poll reaches every store; each store applies it "
    "in one SQLite transaction (synchronous=FULL)")
REPLAY_PATH = (
    "the store replays the change log, one catch-up message of 500 changes at a time, each "
    "published with publish_and_wait by the single publisher thread and applied by the "
    "agent in one SQLite transaction")
SNAPSHOT_PATH = (
    "a new store facing 1,000+ versions gets a snapshot: the latest entry of every key read "
    "in one query at central, sent in parts of 1,000 with publish_and_wait, kept by the agent "
    "in SQLite and swapped in with one transaction (entries, barcodes, entry hashes)")


def _ingest(figure: dict[str, Any]) -> str:
    parts = [_top_cpu(figure.get("cpu_percent_of_one_core", {})), INGEST_PATH]
    resent = figure.get("resent_per_committed")
    if resent and resent > 0.05:
        parts.append(
            f"stores resent {resent:.2f} entries per sale committed: a store whose batch waited "
            "at central longer than its stall timeout (TESSERA_STALL_TIMEOUT, 5 s, doubled on "
            "each stall in a row) sent that batch again (go-back-N)")
    return "; ".join(parts)


def explain(results: dict[str, Any]) -> None:
    """Add a ``limit`` text to every measured figure of ``results``."""
    raw = results.get("raw")
    if raw:
        raw["limit"] = ("paho's Python network loop on each side (one thread per client); "
                        f"100 kB payloads: {raw['large']['msgs_per_s']:,} msg/s, "
                        f"{raw['large']['mbytes_per_s']} MB/s")
    for key in ("ingest_capacity", "ingest"):
        ingest = results.get(key)
        if ingest:
            ingest["limit"] = _ingest(ingest)
    fanout = results.get("fanout")
    if fanout:
        fanout["limit"] = "; ".join([_top_cpu(fanout.get("cpu_percent_of_one_core", {})),
                                     FANOUT_PATH])
    for key, path in (("bootstrap", SNAPSHOT_PATH), ("catchup", REPLAY_PATH)):
        figure = results.get(key)
        if figure:
            figure["limit"] = "; ".join([_top_cpu(figure.get("cpu_percent_of_one_core", {})),
                                         path])
    bootstrap = results.get("bootstrap")
    if bootstrap:
        bootstrap["limit"] += "; customers: none in the model yet, products only"
    catchup = results.get("catchup")
    if catchup and catchup.get("service_layer_sample"):
        sample = catchup["service_layer_sample"]
        catchup["limit"] += (f"; writing the changes at central through the service layer "
                             f"(prices.bulk_adjust) runs at {sample['per_s']:,} changes/s, "
                             "so the rest were written in bulk")
    tab = results.get("tabular")
    if tab:
        from bench import tabular

        tab["csv_limit"] = tabular.explain_csv(tab)
        tab["xlsx_limit"] = tabular.explain_xlsx(tab)
    imported = results.get("import")
    if imported:
        from bench import tabular

        imported["limit"] = tabular.explain_import(imported)
    con = results.get("console")
    if con:
        from bench import console

        for key in ("product_list", "sales_list"):
            con[key]["limit"] = console.explain(con[key])
    agent = results.get("agent")
    if agent:
        agent["limit"] = (f"Python interpreter, Flask/waitress/paho/SQLAlchemy imports and "
                          f"SQLite page cache; products live in SQLite "
                          f"({agent['sqlite_mb']} MB file), not in Python objects")
        agent["cpu_limit"] = ("idle loops: uplink wakes every 0.5 s, catch-up request every "
                              "TESSERA_CATCH_UP_INTERVAL (30 s), MQTT keepalive")
