"""``python -m bench``: run the fleet benchmark and write ``bench/results/latest.*``."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import math
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import (
    console,
    customer_lists,
    customers,
    raw,
    report,
    scenarios,
    seed,
    store_probe,
    tabular,
)
from bench.environment import World
from bench.fleet import Fleet
from protocol import topics
from tests.support import wait_until

DEFAULT_STALL = 5.0  # TESSERA_STALL_TIMEOUT's default
LONG_STALL = 600.0
ALL = ("raw", "ingest", "fanout", "bootstrap", "catchup", "agent", "tabular", "import",
       "customers", "customer_lists", "console")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--stores", type=int, default=None,
                        help="simulated stores for ingest and fan-out (default 50; "
                             "3 with --quick; up to 500)")
    parser.add_argument("--quick", action="store_true",
                        help="a small, fast run (smoke test): few stores, 2k products")
    parser.add_argument("--only", default=",".join(ALL),
                        help=f"comma-separated figures to measure, of: {','.join(ALL)} "
                             "(tabular and customers alone need no broker or database)")
    parser.add_argument("--ingest-workers", type=int, default=2,
                        help="`tessera central ingest` processes (default 2)")
    parser.add_argument("--results", type=Path, default=report.RESULTS,
                        help="where latest.json/.md/.png go (default bench/results)")
    parser.add_argument("--import-rows", type=int, default=None,
                        help="rows of the import figure's member list (default 20,000; "
                             "1,000 with --quick); the customers file has a quarter")
    parser.add_argument("--keep", action="store_true",
                        help="keep the work directories (logs, SQLite files)")
    parser.add_argument("--rewrite", action="store_true",
                        help="measure nothing: rebuild latest.md/.png from latest.json")
    args = parser.parse_args(argv)
    args.only = {name.strip() for name in args.only.split(",") if name.strip()}
    unknown = args.only - set(ALL)
    if unknown:
        parser.error(f"unknown figure(s) {', '.join(sorted(unknown))}; choose from {ALL}")
    if args.stores is None:
        args.stores = 3 if args.quick else 50
    if not 1 <= args.stores <= 500:
        parser.error("--stores must be between 1 and 500")
    return args


def sizes(args: argparse.Namespace) -> dict[str, Any]:
    size = _sizes(args)
    if args.import_rows is not None:
        size["import_rows"] = args.import_rows
    return size


def _sizes(args: argparse.Namespace) -> dict[str, Any]:
    if args.quick:
        return {"raw_seconds": 1.5, "outbox_depth": 200, "ingest_window": 4.0, "fanout_samples": 3,
                "fanout_spacing": 0.1, "products": 2_000, "offline_changes": 1_000,
                "idle_seconds": 2.0, "fleet_products": 10, "tabular_rows": 20_000,
                "import_rows": 1_000, "customers": 5_000, "customer_lists": 5_000,
                "console_products": 2_000, "console_sales": 4_000}
    return {"raw_seconds": 5.0, "ingest_window": 30.0,
            "outbox_depth": min(2_500, max(300, math.ceil(30_000 / args.stores))),
            "fanout_samples": 20, "fanout_spacing": 0.3, "products": 100_000,
            "offline_changes": 50_000, "idle_seconds": 30.0, "fleet_products": 20,
            "tabular_rows": 200_000, "import_rows": 20_000, "customers": 1_000_000,
            "customer_lists": 1_000_000, "console_products": 100_000, "console_sales": 200_000}


def fleet_processes(stores: int) -> int:
    """Enough processes that one GIL does not cap the fleet, few enough for 2 cores."""
    return max(1, min(stores, 6, max(2, math.ceil(stores / 80))))


def run_fleet(world: World, args: argparse.Namespace, size: dict[str, Any],
              fleet_dir: Path, results: dict[str, Any]) -> None:
    assert world.db is not None
    skus = seed.fleet_catalogue(world.db, size["fleet_products"])
    codes = [f"s{n:03d}" for n in range(args.stores)]
    seed.create_stores(world.db, codes)
    fleet = Fleet(codes, world.broker_url, fleet_dir, fleet_processes(args.stores))
    try:
        fleet.ask("start")
        wait_until(lambda: sum(fleet.ask("connected")) == len(codes), 120, interval=0.2,
                   what="every store connected")
        scenarios.wait_fleet_current(world, fleet, seed.CATALOG)
        if "fanout" in args.only:
            log("fan-out: %d price changes to %d stores", size["fanout_samples"], len(codes))
            results["fanout"] = scenarios.fanout(world, fleet, skus, size["fanout_samples"],
                                                 size["fanout_spacing"])
        if "ingest" in args.only:
            # First central's own capacity: stores patient enough never to resend; then the
            # default TESSERA_STALL_TIMEOUT, whose go-back-N resends compete for it.
            for key, stall in (("ingest_capacity", LONG_STALL), ("ingest", DEFAULT_STALL)):
                log("ingest: %d stores, outboxes kept %d sales deep, stall timeout %.0f s, "
                    "%.0f s", len(codes), size["outbox_depth"], stall, size["ingest_window"])
                fleet.ask("stall_timeout", stall)
                results[key] = dict(scenarios.ingest(world, fleet, skus, size["outbox_depth"],
                                                     size["ingest_window"]),
                                    stall_timeout_s=stall)
    finally:
        fleet.close()
        # What the ingest workers still hold (queued batches, sales to re-price) would
        # compete with the single-store figures: they leave with their broker sessions.
        world.stop_ingest()


def log(message: str, *args: object) -> None:
    logging.getLogger("bench").warning(message, *args)


def rewrite(directory: Path) -> int:
    """Rebuild the table and chart of an earlier run (e.g. after changing the analysis)."""
    from bench import analysis

    results = json.loads((directory / "latest.json").read_text())
    analysis.explain(results)
    for path in report.write(results, directory).values():
        print(f"wrote {path}")  # noqa: T201 - the command's output
    return 0


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s bench %(message)s")
    args = parse_args(argv)
    if args.rewrite:
        return rewrite(args.results)
    size = sizes(args)
    started = time.monotonic()
    shm = Path("/dev/shm")
    workdir = Path(tempfile.mkdtemp(prefix="tessera-bench-"))
    # Many stores' SQLite files on one disk would measure that disk's fsync queue, not
    # the sync; each real store has its own disk. The probe store stays on disk.
    fleet_dir = Path(tempfile.mkdtemp(prefix="tessera-bench-fleet-",
                                      dir=shm if shm.is_dir() else None))
    results: dict[str, Any] = {"meta": {
        "stores": args.stores, "quick": args.quick, "cores": os.cpu_count(),
        "ingest_workers": args.ingest_workers, "sizes": size, "only": sorted(args.only),
        "started_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "load_average_at_start": os.getloadavg(),
        "notes": []}}
    ok = False
    try:
        if "tabular" in args.only:
            # In this process, before the fleet: a memory figure wants a quiet machine.
            log("tabular: %d-row CSV and XLSX read and written, tracemalloc",
                size["tabular_rows"])
            results["tabular"] = tabular.run(size["tabular_rows"])
        if "customers" in args.only:
            # A store's SQLite alone, no broker: before the fleet, on a quiet machine.
            log("customers: a store's copy of %d customers, then its lookups",
                size["customers"])
            results["customers"] = customers.run(size["customers"], directory=workdir)
        if not args.only - {"tabular", "customers"}:
            ok = True
            return 0
        with World(workdir, ingest_workers=args.ingest_workers) as world:
            if "raw" in args.only:
                log("raw: paho QoS 1 through the broker on port %d", world.broker.port)
                results["raw"] = {
                    "small": raw.measure("127.0.0.1", world.broker.port, size["raw_seconds"], 64),
                    "large": raw.measure("127.0.0.1", world.broker.port, size["raw_seconds"],
                                         100_000)}
            if "import" in args.only:
                assert world.db is not None
                log("import: %d partner member rows (and a quarter as many customers) "
                    "through the import runner, twice",
                    size["import_rows"])
                results["import"] = tabular.run_import(world.db, size["import_rows"])
            if "customer_lists" in args.only:
                log("customer_lists: central counts %d customers with five criteria",
                    size["customer_lists"])
                results["customer_lists"] = customer_lists.run(size["customer_lists"])
            if "console" in args.only:
                log("console: product list (%d products) and sales list (%d sales) render",
                    size["console_products"], size["console_sales"])
                results["console"] = console.run(size["console_products"],
                                                 size["console_sales"])
            if not args.only - {"tabular", "import", "customers", "customer_lists", "console"}:
                ok = True
                return 0
            world.start_central()
            state = raw.retained_payload("127.0.0.1", world.broker.port, topics.CENTRAL_STATE)
            if not state or not state.get("online"):
                raise RuntimeError("central's publisher did not announce itself online")
            if args.only & {"ingest", "fanout"}:
                run_fleet(world, args, size, fleet_dir, results)
            if args.only & {"bootstrap", "catchup", "agent"}:
                log("bootstrap/catch-up/agent: %d products, %d offline changes",
                    size["products"], size["offline_changes"])
                results.update(store_probe.run(world, workdir, size["products"],
                                               size["offline_changes"],
                                               size["idle_seconds"], args.only))
        ok = True
    finally:
        results["meta"]["seconds"] = round(time.monotonic() - started, 1)
        results["meta"]["finished_at"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        results["meta"]["complete"] = ok
        from bench import analysis

        analysis.explain(results)
        paths = report.write(results, args.results)
        for path in paths.values():
            print(f"wrote {path}")  # noqa: T201 - the command's output
        print(paths["md"].read_text())  # noqa: T201
        if args.keep or not ok:
            print(f"work directories kept: {workdir} {fleet_dir}", file=sys.stderr)  # noqa: T201
        else:
            shutil.rmtree(workdir, ignore_errors=True)
            shutil.rmtree(fleet_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
