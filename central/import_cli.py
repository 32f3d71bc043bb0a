"""``tessera central import-products|import-prices|import-partner-cards|import-customers``:
spreadsheets (CSV, XLSX) checked row by row, previewed, then applied."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from central.cli import _settings


def _import(kind: str, path: str, apply: bool) -> None:
    from central.db import Database
    from central.services import prices
    from central.tabular import Progress, TabularError, open_table

    settings = _settings()
    run = prices.import_products if kind == "products" else prices.import_prices
    db = Database(settings.database_url)
    label = "Importing" if apply else "Checking"
    # The file is read as it is imported (any size), the bar follows its bytes.
    with click.progressbar(length=1, label=f"{label} {Path(path).name}",
                           file=sys.stderr) as bar:
        def progress(step: Progress) -> None:
            if step.total:
                bar.length = step.total
            bar.update(step.done - bar.pos)

        try:
            with open_table(path, progress=progress) as table, \
                    db.transaction() as session:
                report = run(session, table, apply=apply)
        except TabularError as exc:
            raise click.ClickException(str(exc)) from exc
    verb = "applied" if apply else "would apply (preview; --apply to write)"
    click.echo(f"{len(report.changes)} changes {verb}, {report.unchanged} unchanged, "
               f"{len(report.rejected)} rows rejected")
    for change in report.changes[:50]:
        click.echo("  " + " ".join(f"{k}={v}" for k, v in change.items()))
    for rejected in report.rejected:
        click.echo(f"  rejected line {rejected.get('line', '?')} ({rejected.get('sku')}): "
                   f"{rejected['reason']}", err=True)


@click.command("import-products")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--apply", is_flag=True, help="Write the changes (default: preview only).")
def import_products(path: str, apply: bool) -> None:
    """Create or update products from a CSV or XLSX file."""
    _import("products", path, apply)


@click.command("import-prices")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--apply", is_flag=True, help="Write the changes (default: preview only).")
def import_prices(path: str, apply: bool) -> None:
    """Update sale prices and purchase costs by SKU from a CSV or XLSX file."""
    _import("prices", path, apply)


# -- users and tokens -------------------------------------------------------------------------

@click.command("import-partner-cards")
@click.argument("programme")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--apply", is_flag=True, help="Write the cards (default: check only).")
@click.option("--report", "report_path", type=click.Path(dir_okay=False),
              help="Write every rejected row (line, reason, values) to this .csv or .xlsx.")
@click.option("--batch", default=1000, show_default=True, type=click.IntRange(min=1),
              help="Rows per transaction.")
def import_partner_cards(programme: str, path: str, apply: bool, report_path: str | None,
                         batch: int) -> None:
    """Import a partner programme's member list (columns number, or first and last, and
    holder) from a CSV or XLSX file of any size; importing it again changes nothing."""
    from central.db import Database
    from central.imports import ImportAborted, RejectReport, describe, run_import
    from central.services import customers, partner_members, partners
    from central.services.errors import NotFound
    from central.tabular import Progress, TabularError, open_table

    settings = _settings()
    region = customers.country_of_zone(settings.default_time_zone).upper()
    db = Database(settings.database_url)
    try:
        with db.sessions() as session:
            partners.get_programme(session, programme)
    except NotFound as exc:
        raise click.UsageError(str(exc)) from exc
    target: dict[str, Any] = {}
    if report_path:
        suffix = Path(report_path).suffix.lower()
        if suffix not in (".csv", ".xlsx"):
            raise click.UsageError("--report must end in .csv or .xlsx")
        target = {"csv_path" if suffix == ".csv" else "xlsx_path": report_path}
    label = "Importing" if apply else "Checking"
    try:
        with click.progressbar(length=1, label=f"{label} {Path(path).name}",
                               file=sys.stderr) as bar:
            def progress(step: Progress) -> None:
                if step.total:
                    bar.length = step.total
                bar.update(step.done - bar.pos)

            with open_table(path, progress=progress) as table, \
                    RejectReport(table.header, **target) as rejects:
                handler = partner_members.member_handler(programme, region=region)
                result = run_import(table, handler, db.sessions, batch_size=batch,
                                    apply=apply, rejects=rejects)
    except TabularError as exc:
        raise click.ClickException(str(exc)) from exc
    except ImportAborted as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        db.dispose()
    summary = describe(result)
    outcomes = ", ".join(f"{count} {what}" for what, count in sorted(summary["outcomes"].items()))
    verb = "imported" if apply else "checked (nothing written; --apply to write)"
    click.echo(f"{result.rows} rows {verb}: {outcomes or 'none accepted'}, "
               f"{result.rejected} rejected" + (f" (report: {report_path})" if report_path
                                                else ""))
    for rejection in result.sample[:20]:
        click.echo(f"  rejected line {rejection.line}: {rejection.reason}", err=True)
    if result.rejected > 20:
        click.echo(f"  ... and {result.rejected - 20} more", err=True)


@click.command("import-customers")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--apply", is_flag=True, help="Write the customers (default: check only).")
@click.option("--report", "report_path", type=click.Path(dir_okay=False),
              help="Write every rejected row (line, reason, values) to this .csv or .xlsx.")
@click.option("--batch", default=500, show_default=True, type=click.IntRange(min=1),
              help="Rows per transaction.")
@click.option("--country", default=None,
              help="Country of phone numbers written without +prefix (default: that of "
                   "TESSERA_DEFAULT_TIME_ZONE).")
def import_customers(path: str, apply: bool, report_path: str | None, batch: int,
                     country: str | None) -> None:
    """Import customers from a CSV or XLSX file of any size (columns: the record's fields,
    extra.{code}, external_id, card, card_kind); matched by external_id, card or mobile,
    so importing it again changes nothing."""
    from central.db import Database
    from central.imports import ImportAborted, RejectReport, describe, run_import
    from central.services import customer_imports, customers
    from central.tabular import Progress, TabularError, open_table

    settings = _settings()
    region = (country or customers.country_of_zone(settings.default_time_zone)).upper()
    db = Database(settings.database_url)
    target: dict[str, Any] = {}
    if report_path:
        suffix = Path(report_path).suffix.lower()
        if suffix not in (".csv", ".xlsx"):
            raise click.UsageError("--report must end in .csv or .xlsx")
        target = {"csv_path" if suffix == ".csv" else "xlsx_path": report_path}
    label = "Importing" if apply else "Checking"
    try:
        with click.progressbar(length=1, label=f"{label} {Path(path).name}",
                               file=sys.stderr) as bar:
            def progress(step: Progress) -> None:
                if step.total:
                    bar.length = step.total
                bar.update(step.done - bar.pos)

            with open_table(path, progress=progress) as table, \
                    RejectReport(table.header, **target) as rejects:
                result = run_import(table, customer_imports.row_handler(region=region), db.sessions,
                                    batch_size=batch, apply=apply, rejects=rejects)
    except (TabularError, ImportAborted) as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        db.dispose()
    summary = describe(result)
    outcomes = ", ".join(f"{count} {what}" for what, count in sorted(summary["outcomes"].items()))
    verb = "imported" if apply else "checked (nothing written; --apply to write)"
    click.echo(f"{result.rows} rows {verb}: {outcomes or 'none accepted'}, "
               f"{result.rejected} rejected" + (f" (report: {report_path})" if report_path
                                                else ""))
    for rejection in result.sample[:20]:
        click.echo(f"  rejected line {rejection.line}: {rejection.reason}", err=True)


# Added to `tessera central` by tessera/cli.py.
COMMANDS = (import_products, import_prices, import_partner_cards, import_customers)
