"""An Italian RT printer simulator: fpmate XML over HTTP, state on disk, faults on demand.

Run ``python -m store_agent.fiscal.rt_simulator --port 8080 --state DIR`` (``--port 0``
picks a free port; the first line on stdout says which). It answers POSTs to
``/cgi-bin/fpmate.cgi`` as :mod:`store_agent.fiscal.rt_xml` describes and keeps its memory
in ``DIR/state.json`` (see :mod:`.rt_simulator_device`), so ``kill -9`` and a restart on
the same directory keep every counter.

Faults (``--fault NAME=N`` at start, or ``--state DIR --inject NAME=N`` for a running
simulator: it picks ``faults.json`` up before the next request). The answer faults count
*printing* requests (receipts, refunds, reports, non-fiscal documents), not queries:

- ``drop_answer=N``: execute the next N documents (printed, or refused), then close the
  connection unanswered;
- ``slow=N``: answer the next N documents after ``slow_ms`` (default 2000) milliseconds;
- ``die_before_answer=N``: on the Nth next document, save it, then exit at once (power cut
  between printing and answering);
- ``paper_out=1|0`` (out of paper / roll replaced), ``offline=1|0`` (printerStatus 3:
  cover open or mechanism offline), ``open_document=1|0`` (a document opened by someone
  else on the keyboard); ``paper_out_after=N``: the paper runs out after N documents.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

from store_agent.fiscal import rt_xml, sim_files
from store_agent.fiscal.rt_simulator_device import Refusal, RtSimDevice

FAULT_FILE = sim_files.FAULT_FILE
SWITCHES = ("paper_out", "offline", "open_document")
FAULTS = ("drop_answer", "slow", "slow_ms", "die_before_answer", "paper_out_after",
          *SWITCHES)
PRINTING = ("printerFiscalReceipt", "printerFiscalReport", "printerNonFiscal")


def parse_faults(specs: list[str]) -> dict[str, int]:
    return sim_files.parse_faults(specs, FAULTS)


def inject(directory: Path, **faults: int) -> None:
    """Switch faults on a running simulator (read before its next request)."""
    sim_files.write_faults(directory, FAULTS, faults)


class RtSimulator(sim_files.Countdowns):
    """Executes requests one at a time, as the printer does."""

    def __init__(self, directory: Path, faults: dict[str, int] | None = None,
                 counters_command: str = "1070", totals_command: str = "2050") -> None:
        self.directory = directory
        self.device = RtSimDevice(directory)
        self.device.counters_command = counters_command
        self.device.totals_command = totals_command
        self.faults: dict[str, int] = {"slow_ms": 2000}
        self.lock = threading.Lock()
        self._apply(faults or {})

    def _apply(self, faults: dict[str, int]) -> None:
        for name, value in faults.items():
            if name in SWITCHES:
                self.device.state[name] = bool(value)
            elif name == "paper_out_after":
                self.device.paper_out_after = value
            else:
                self.faults[name] = value
        if set(SWITCHES) & set(faults):
            self.device.save()

    def _pick_up_faults(self) -> None:
        faults = sim_files.take_faults(self.directory)
        if faults:
            self._apply(faults)

    def handle(self, body: bytes) -> tuple[bytes | None, float]:
        """The answer (None: drop it) and how long to wait before sending it."""
        with self.lock:
            self._pick_up_faults()
            try:
                request = rt_xml.parse_request(body)
            except rt_xml.AnswerError as exc:
                return rt_xml.answer_xml(False, "EPTR_SYNTAX", "0", [("error", str(exc))]), 0
            printing = request.tag in PRINTING
            try:
                info = self.device.execute(request)
                answer = rt_xml.answer_xml(True, "", "2", info)
            except Refusal as refusal:
                answer = rt_xml.answer_xml(False, refusal.code, "0", [
                    ("lastCommand", "74"), ("printerStatus", self.device.printer_status())])
            self.device.save()
            if not printing:
                return answer, 0
            if self.take("die_before_answer") and self.faults["die_before_answer"] == 0:
                os._exit(137)
            delay = self.faults["slow_ms"] / 1000 if self.take("slow") else 0.0
            return (None if self.take("drop_answer") else answer), delay

    def server(self, host: str, port: int) -> ThreadingHTTPServer:
        simulator = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                if urlsplit(self.path).path != "/cgi-bin/fpmate.cgi":
                    self.send_error(404)
                    return
                length = int(self.headers.get("Content-Length") or 0)
                answer, delay = simulator.handle(self.rfile.read(length))
                if delay:
                    time.sleep(delay)
                if answer is None:
                    self.close_connection = True
                    return
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", "text/xml; charset=utf-8")
                    self.send_header("Content-Length", str(len(answer)))
                    self.end_headers()
                    self.wfile.write(answer)
                except OSError:
                    self.close_connection = True  # the client gave up waiting

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                return None

        server = ThreadingHTTPServer((host, port), Handler)
        server.daemon_threads = True
        return server


def _announce(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def run(state_dir: Path, *, host: str = "127.0.0.1", port: int = 8080,
        faults: list[str] | None = None, counters_command: str = "1070",
        totals_command: str = "2050",
        ready: Callable[[str], None] = _announce) -> None:
    """Serve until killed (the state on disk survives any kill)."""
    simulator = RtSimulator(state_dir, parse_faults(faults or []), counters_command,
                            totals_command)
    server = simulator.server(host, port)
    bound = server.server_address[1]
    ready(f"rt simulator listening on http://{host}:{bound}")
    server.serve_forever()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--state", required=True, type=Path, help="state directory")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080, help="0 picks a free port")
    parser.add_argument("--fault", action="append", default=[], help="NAME=N at start")
    parser.add_argument("--inject", action="append", default=[],
                        help="NAME=N into the running simulator of --state, then exit")
    parser.add_argument("--counters-command", default="1070",
                        help="directIO code answering the document counters")
    parser.add_argument("--totals-command", default="2050",
                        help="directIO code answering a department's totals")
    args = parser.parse_args(argv)
    if args.inject:
        inject(args.state, **parse_faults(args.inject))
        return
    run(args.state, host=args.host, port=args.port, faults=args.fault,
        counters_command=args.counters_command, totals_command=args.totals_command)


if __name__ == "__main__":
    main()
