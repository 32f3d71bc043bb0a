"""``tessera agent printer status|x-report|z-report`` and ``tessera agent printer-sim``.

The commands talk to the printer of ``TESSERA_PRINTER_URL``. Run them while the agent is
stopped: one process owns each printer port.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click

from store_agent import settings as settings_mod
from store_agent.fiscal.device import FiscalDevice, FiscalError, ReportTotals
from store_agent.fiscal.factory import open_device


@contextmanager
def _device() -> Iterator[FiscalDevice]:
    try:
        printer = settings_mod.load_printer()
    except settings_mod.SettingsError as exc:
        raise click.UsageError(str(exc)) from exc
    if printer is None:
        raise click.UsageError("no printer configured: set TESSERA_PRINTER_URL, e.g. "
                               "datecs+tcp://127.0.0.1:4999")
    try:
        device = open_device(printer)
    except (FiscalError, OSError) as exc:
        raise click.ClickException(str(exc)) from exc
    try:
        yield device
    except FiscalError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        device.close()


@click.group()
def printer() -> None:
    """The fiscal printer (TESSERA_PRINTER_URL)."""


@printer.command()
def status() -> None:
    """Model, status, open receipt and last document of the printer."""
    with _device() as device:
        info = device.info()
        state = device.status()
        tx = device.transaction_state()
        last = device.last_document()
        clock = device.get_clock()
    click.echo(f"printer: {info.model} serial {info.serial}, fiscal memory "
               f"{info.fiscal_memory}, firmware {info.firmware}, {info.dialect} dialect")
    click.echo(f"clock: {clock.isoformat()}")
    for error in state.errors:
        click.echo(f"ERROR: {error}")
    for warning in state.warnings:
        click.echo(f"warning: {warning}")
    if tx.open:
        click.echo(f"receipt OPEN: {tx.items} lines, {tx.amount} due, {tx.tendered} tendered")
    else:
        click.echo(f"no open receipt; last: {tx.items} lines, {tx.amount}")
    click.echo(f"last document: {last.number}")
    if state.errors:
        raise SystemExit(1)


def _echo_totals(title: str, report: ReportTotals) -> None:
    click.echo(f"{title} {report.number}")
    for group, amount in report.totals.items():
        refund = report.refund_totals.get(group)
        if amount or refund:
            click.echo(f"  VAT {group}: {amount}" + (f" (refunds {refund})" if refund else ""))
    click.echo(f"  total: {report.total}")


@printer.command("x-report")
def x_report() -> None:
    """Print an X report (totals so far, nothing reset)."""
    with _device() as device:
        _echo_totals("X report, day", device.x_report())


@printer.command("z-report")
@click.confirmation_option(prompt="Close the fiscal day (Z report)?")
def z_report() -> None:
    """Print the Z report: closes the fiscal day and resets the day's totals."""
    with _device() as device:
        _echo_totals("Z report", device.z_report())


@click.command("printer-sim")
@click.option("--state", "state_dir", required=True, type=click.Path(path_type=Path),
              help="Directory of the simulated device's memory.")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=4999, show_default=True, help="TCP port (0: any free one).")
@click.option("--family", "--dialect", "family",
              type=click.Choice(["x", "printer", "register", "byte"]), default="x",
              show_default=True, help="Device family of a new device (an existing state keeps "
              "its own): x (FP-700X ...), printer (FP-550 ...), register (DP-25 ...); byte is "
              "the older name of printer.")
@click.option("--model", default=None, help="Model name of a new device (default per family).")
@click.option("--vat", default=None, help="VAT table of a new device, e.g. A:19,B:9,C:0.")
@click.option("--fault", multiple=True, help="NAME=N fault at start (see --help of "
              "python -m store_agent.fiscal.simulator).")
@click.option("--inject", multiple=True, help="NAME=N into the running simulator, then exit.")
@click.option("--pty", "use_pty", is_flag=True, help="Serve a pseudo-terminal, not TCP.")
def printer_sim(state_dir: Path, host: str, port: int, family: str, model: str | None,
                vat: str | None, fault: tuple[str, ...], inject: tuple[str, ...],
                use_pty: bool) -> None:
    """Run a Datecs fiscal printer simulator until killed."""
    from store_agent.fiscal import simulator

    try:
        if inject:
            simulator.inject(state_dir, **simulator.parse_faults(list(inject)))
            return
        simulator.run(state_dir, host=host, port=port, dialect=family, faults=list(fault),
                      use_pty=use_pty, vat=vat, model=model)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc


@printer.command()
@click.argument("sale")
@click.option("--printed", "document", type=click.IntRange(min=0), default=None,
              help="The sale's receipt IS in the device's journal, as this document number.")
@click.option("--not-printed", is_flag=True,
              help="The sale has NO receipt (checked in the device's journal): print it now.")
def resolve(sale: str, document: int | None, not_printed: bool) -> None:
    """Settle a sale whose receipt recovery could not decide (state 'blocked').

    Check the printer's own journal first. Run it with the agent stopped.
    """
    if (document is None) == (not not_printed):
        raise click.UsageError("say either --printed DOCUMENT or --not-printed")
    from store_agent.fiscal.fiscaliser import Fiscaliser
    from store_agent.sqlite_store import LocalStore

    try:
        settings = settings_mod.load()
    except settings_mod.SettingsError as exc:
        raise click.UsageError(str(exc)) from exc
    with _device() as device:
        fiscal = Fiscaliser(LocalStore(settings.database), device)
        try:
            state = (fiscal.resolve_printed(sale, document) if document is not None
                     else fiscal.resolve_not_printed(sale))
        except FiscalError as exc:
            raise click.ClickException(str(exc)) from exc
    click.echo(f"sale {sale}: {state.state}" + (f", document {state.document_number}"
                                                 if state.document_number else "")
               + (f" ({state.error})" if state.error else ""))
    if state.state != "done":
        raise SystemExit(1)


@printer.command("journal")
@click.option("--state", "state_dir", type=click.Path(file_okay=False, path_type=Path),
              default=None, help="A Datecs simulator's state directory (the demo's printers).")
@click.option("--last", default=20, show_default=True, help="How many documents.")
def printer_journal(state_dir: Path | None, last: int) -> None:
    """The last documents the printer issued (simulator or software journal)."""
    import json

    if state_dir is not None:
        path = state_dir / "state.json"
        if not path.exists():
            raise click.ClickException(f"{path}: no simulator state")
        documents = json.loads(path.read_text())["journal"][-last:]
        for doc in documents:
            if doc.get("kind") == "duplicate":
                click.echo(f"#{doc['document']} duplicate  {doc['closed_at']}")
                continue
            click.echo(f"#{doc.get('document')} {doc.get('kind')} {doc.get('outcome')}  "
                       f"{doc.get('closed_at')}  total {doc.get('amount', '-')}")
            for line in doc.get("lines", []):
                click.echo(f"    {line.get('name', line.get('text', ''))[:32]:<32} "
                           f"{line.get('quantity', '')} x {line.get('price', '')} "
                           f"{line.get('group', '')}")
        return
    printer_settings = settings_mod.load_printer()
    if printer_settings is None or printer_settings.driver != "journal":
        raise click.UsageError("give --state DIR of a simulator, or configure the software "
                               "journal (TESSERA_PRINTER_URL=journal:///path)")
    from store_agent.fiscal.journal import SoftwareJournal

    records = list(SoftwareJournal(Path(printer_settings.address)).records())[-last:]
    for record in records:
        click.echo(f"{record['n']:>6} {record['at']} {record['kind']:<9} "
                   f"{json.dumps(record['data'], ensure_ascii=False)[:100]}")


@click.group()
def journal() -> None:
    """The software fiscal journal (TESSERA_PRINTER_URL=journal:///path)."""


@journal.command()
@click.argument("path", required=False, type=click.Path(dir_okay=False, path_type=Path))
def verify(path: Path | None) -> None:
    """Check the journal's hash chain; exit 1 and name the first bad record if broken."""
    from store_agent.fiscal.journal import verify as verify_chain

    if path is None:
        try:
            printer = settings_mod.load_printer()
        except settings_mod.SettingsError as exc:
            raise click.UsageError(str(exc)) from exc
        if printer is None or printer.driver != "journal":
            raise click.UsageError("give the journal's path, or set TESSERA_PRINTER_URL to "
                                   "journal:///path/to/fiscal.jsonl")
        path = Path(printer.address)
    if not path.exists():
        raise click.ClickException(f"{path}: no such journal")
    result = verify_chain(path)
    if not result.ok:
        click.echo(f"{path}: BROKEN after {result.records} good records: {result.problem}")
        raise SystemExit(1)
    click.echo(f"{path}: {result.records} records, chain intact, last hash "
               f"{result.last_hash[:16]}" + (f" ({result.problem})" if result.problem else ""))


# Added to `tessera agent` by tessera/cli.py.
COMMANDS = (printer, printer_sim, journal)
