"""A Datecs fiscal printer simulator on TCP (or a pty), state on disk, faults on demand.

Run ``python -m store_agent.fiscal.simulator --port 4999 --state DIR [--dialect x|byte]``
(or ``tessera agent printer-sim``). It speaks the framing of
:mod:`store_agent.fiscal.datecs_codec` and the syntax of :mod:`.datecs_syntax`, repeats its
last answer for a repeated SEQ, NAKs a frame it cannot read, and keeps its memory in
``DIR/state.json`` (see :mod:`.simulator_device`).

Faults (``--fault NAME=N`` at start, or at runtime ``--state DIR --inject NAME=N`` which
drops a ``faults.json`` the running simulator picks up before the next frame):

- ``drop_answer=N``: execute the next N commands but send no answer;
- ``bad_checksum=N``: send the next N answers with a corrupted checksum;
- ``nak=N``: answer the next N frames with NAK without reading them;
- ``syn=N``: send N SYN bytes (every 60 ms) before each of the next answers, once;
- ``paper_out_after=N``: the paper runs out after N more printing commands;
  ``paper_out=1|0``: out of paper now / roll replaced; ``cover_open=1|0`` likewise;
- ``die_before_answer=N``: on the Nth next command, persist, then exit at once (power cut
  between execution and answer).
"""

from __future__ import annotations

import argparse
import os
import pty
import re
import socket
import sys
import threading
import time
import tty
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path

from store_agent.fiscal import sim_files
from store_agent.fiscal.datecs_codec import (
    NAK,
    SYN,
    Dialect,
    FrameError,
    FrameReader,
    decode_request,
    encode_answer,
    encode_status,
)
from store_agent.fiscal.datecs_syntax import (
    CLOCK_FORMAT,
    PRINTING,
    TAX_X,
    Cmd,
    XError,
    join,
    money,
)
from store_agent.fiscal.device import VAT_GROUPS, StatusFlag
from store_agent.fiscal.simulator_device import Refusal, SimDevice

FAULT_FILE = sim_files.FAULT_FILE
FAULTS = ("drop_answer", "bad_checksum", "nak", "syn", "paper_out_after", "paper_out",
          "cover_open", "die_before_answer")
GROUP_OF_X = {code: group for group, code in TAX_X.items()}
MODELS = {Dialect.X: "FP-700X", Dialect.BYTE: "FP-550"}
BYTE_FLAG = {XError.SYNTAX: StatusFlag.SYNTAX_ERROR,
             XError.INVALID_COMMAND: StatusFlag.INVALID_COMMAND}


def parse_faults(specs: list[str]) -> dict[str, int]:
    return sim_files.parse_faults(specs, FAULTS)


def inject(directory: Path, **faults: int) -> None:
    """Switch faults on a running simulator (it reads the file before its next frame)."""
    sim_files.write_faults(directory, FAULTS, faults)


class Simulator(sim_files.Countdowns):
    def __init__(self, directory: Path, dialect: Dialect, faults: dict[str, int] | None = None,
                 model: str | None = None, encoding: str = "cp1251",
                 vat: dict[str, str] | None = None) -> None:
        self.device = SimDevice(directory, dialect.value, model or MODELS[dialect], vat)
        self.dialect = Dialect(self.device.state["dialect"])
        self.directory, self.encoding = directory, encoding
        self.faults: dict[str, int] = {}
        self._apply(faults or {})
        self.lock = threading.Lock()

    # -- faults ----------------------------------------------------------------------------

    def _apply(self, faults: dict[str, int]) -> None:
        state = self.device.state
        for name, value in faults.items():
            if name in ("paper_out", "cover_open"):
                state[name] = bool(value)
            else:
                self.faults[name] = value
        if {"paper_out", "cover_open"} & set(faults):
            self.device.save()

    def _pick_up_faults(self) -> None:
        faults = sim_files.take_faults(self.directory)
        if faults:
            self._apply(faults)

    # -- one frame -------------------------------------------------------------------------

    def handle(self, frame: bytes, send: Callable[[bytes], None]) -> None:
        with self.lock:
            self._pick_up_faults()
            if self.take("nak"):
                send(bytes((NAK,)))
                return
            try:
                request = decode_request(self.dialect, frame)
            except FrameError:
                send(bytes((NAK,)))
                return
            state = self.device.state
            if request.seq == state["last_seq"] and state["last_answer"]:
                answer = bytes.fromhex(state["last_answer"])
            else:
                answer = self._execute(request.seq, request.cmd, request.data)
                if self.faults.get("die_before_answer", 0) > 0:
                    self.faults["die_before_answer"] -= 1
                    if self.faults["die_before_answer"] == 0:
                        os._exit(137)
            syns = self.faults.pop("syn", 0)
            for _ in range(syns):
                send(bytes((SYN,)))
                time.sleep(0.06)
            if self.take("drop_answer"):
                return
            if self.take("bad_checksum"):
                answer = answer[:-2] + bytes((0x30 + ((answer[-2] - 0x30 + 1) & 0xF),)) + b"\x03"
            send(answer)

    def _execute(self, seq: int, cmd: int, data: bytes) -> bytes:
        device = self.device
        device.begin()
        command_flags: set[StatusFlag] = set()
        try:
            if cmd in PRINTING and "paper_out_after" in self.faults:
                if self.faults["paper_out_after"] <= 0:
                    del self.faults["paper_out_after"]
                    device.state["paper_out"] = True
                else:
                    self.faults["paper_out_after"] -= 1
            fields = self._dispatch(cmd, data.decode(self.encoding, "replace"))
            code = 0
        except Refusal as refusal:
            device.rollback()
            device.state["paper_out"] = device.state["paper_out"] or (
                refusal.kind is XError.PAPER_END)
            code = int(refusal.kind)
            command_flags.add(BYTE_FLAG.get(refusal.kind, StatusFlag.NOT_ALLOWED)
                              if refusal.kind not in (XError.PAPER_END, XError.COVER_OPEN)
                              else StatusFlag.GENERAL_ERROR)
            fields = ["F"] if cmd in (Cmd.PAYMENT, Cmd.PLU) else []
        flags = frozenset(device.flags() | command_flags)
        if self.dialect is Dialect.X:
            text = join(self.dialect, str(code), *([] if code else fields))
        else:
            text = join(self.dialect, *fields)
        answer = encode_answer(self.dialect, seq, cmd, text.encode(self.encoding, "replace"),
                               encode_status(self.dialect, flags))
        device.state["last_seq"], device.state["last_answer"] = seq, answer.hex()
        device.save()
        return answer

    # -- commands --------------------------------------------------------------------------

    def _params(self, text: str) -> list[str]:
        if self.dialect is Dialect.BYTE:
            return text.split(",") if text else []
        parts = text.split("\t")
        return parts[:-1] if parts and parts[-1] == "" else parts

    def _group(self, code: str) -> str:
        group = code if self.dialect is Dialect.BYTE else GROUP_OF_X.get(code, "?")
        if group not in VAT_GROUPS:
            raise Refusal(XError.SYNTAX, f"tax group {code!r}")
        return group

    def _dispatch(self, cmd: int, text: str) -> list[str]:
        try:
            return self._command(cmd, text, self._params(text))
        except (IndexError, ValueError, InvalidOperation) as exc:
            raise Refusal(XError.SYNTAX, str(exc)) from exc

    def _command(self, cmd: int, text: str, params: list[str]) -> list[str]:
        device, byte = self.device, self.dialect is Dialect.BYTE
        state = device.state
        if cmd == Cmd.STATUS:
            return []
        if cmd == Cmd.INFO:
            date = "01Jan24 1200"
            if byte:
                return [state["model"], f"{state['firmware']} {date}", "ABCD", "00000000",
                        state["serial"], state["fiscal_memory"]]
            return [state["model"], state["firmware"], "01Jan24", "1200", "ABCD", "00000000",
                    state["serial"], state["fiscal_memory"]]
        if cmd in (Cmd.OPEN, Cmd.REFUND_OPEN_BYTE, Cmd.REFUND_OPEN_X):
            if cmd == Cmd.OPEN:
                if len(params) < 3:
                    raise Refusal(XError.SYNTAX)
                documents, number = device.open_receipt("sale")
            else:
                if len(params) < 7:
                    raise Refusal(XError.SYNTAX)
                origin = {"document": params[5 if byte else 4],
                          "fiscal_memory": params[7 if byte else 6]}
                documents, number = device.open_receipt("refund", origin)
            return [str(documents), str(number)] if byte else [str(number)]
        if cmd == Cmd.SALE:
            if byte:
                name, _, item = text.partition("\t")
                match = re.fullmatch(r"([A-H])(-?[\d.]+)(?:\*([\d.]+))?(?:;-([\d.]+))?", item)
                if not match:
                    raise Refusal(XError.SYNTAX, f"sale {item!r}")
                group, price, qty, disc = match.groups()
            else:
                name, code, price, qty, disc_type, disc = params[:6]
                group = self._group(code)
                if disc_type not in ("0", "4"):
                    raise Refusal(XError.SYNTAX, "only absolute discounts are simulated")
            device.sell(name, self._group(group) if byte else group, Decimal(price),
                        Decimal(qty or "1"), Decimal(disc or "0"))
            return ["P"] if byte else [str(state["receipt"]["number"])]
        if cmd == Cmd.SELL_PLU:
            device.sell_plu(int(params[0]), Decimal(params[1] if len(params) > 1 else "1"))
            return ["P"] if byte else []
        if cmd == Cmd.PAYMENT:
            if byte:
                tender = text.partition("\t")[2]
                method, amount = tender[:1] or "P", tender[1:]
            else:
                method, amount = params[0], params[1] if len(params) > 1 else ""
            answer, rest = device.pay(method, Decimal(amount) if amount else None)
            return [f"{answer}{money(rest)}"] if byte else [answer, money(rest)]
        if cmd in (Cmd.TEXT, Cmd.NONFISCAL_TEXT):
            line = text if byte else (params[0] if params else "")
            if cmd == Cmd.TEXT:
                device.text(line)
            else:
                device.nonfiscal_text(line)
            return []
        if cmd == Cmd.CLOSE:
            documents, number = device.close_receipt()
            return [str(documents), str(number)] if byte else [str(number)]
        if cmd == Cmd.CANCEL:
            device.cancel_receipt()
            return []
        if cmd == Cmd.NONFISCAL_OPEN:
            documents, _ = device.open_receipt("nonfiscal")
            return [str(documents)]
        if cmd == Cmd.NONFISCAL_CLOSE:
            return [str(device.nonfiscal_close())]
        if cmd == Cmd.TX_STATUS:
            is_open, items, due, tendered = device.tx_status()
            return ["1" if is_open else "0", str(items), money(due), money(tendered)]
        if cmd == Cmd.LAST_DOC:
            return [str(state["documents"])]
        if cmd == Cmd.READ_CLOCK:
            return [device.now().strftime(CLOCK_FORMAT)]
        if cmd == Cmd.SET_CLOCK:
            raw = text if byte else params[0]
            device.set_clock(datetime.strptime(raw.strip(), CLOCK_FORMAT))  # noqa: DTZ007
            return []
        if cmd == Cmd.REPORT:
            kind = text.strip() if byte else params[0]
            if kind not in (("0", "2") if byte else ("Z", "X")):
                raise Refusal(XError.SYNTAX, f"report {kind!r}")
            number, totals, refunds = device.report(zero=kind in ("0", "Z"))
            return [str(number), *(money(totals[g]) for g in VAT_GROUPS),
                    *(money(refunds[g]) for g in VAT_GROUPS)]
        if cmd == Cmd.DUPLICATE:
            device.duplicate()
            return []
        if cmd == Cmd.VAT_BYTE and byte and not text:
            vat = state["vat"]
            mask = "".join("1" if g in vat else "0" for g in VAT_GROUPS)
            return ["100", "2", mask, *(vat.get(g, "0.00") for g in VAT_GROUPS)]
        if cmd == Cmd.VAT_X and not byte:
            return [state["vat"].get(g, "") for g in VAT_GROUPS]
        if cmd == Cmd.PLU:
            return self._plu(text, params, byte)
        if cmd in (Cmd.DISPLAY_CLEAR, Cmd.DISPLAY_UPPER, Cmd.DISPLAY_LOWER):
            line = text if byte else (params[0] if params else "")
            if cmd == Cmd.DISPLAY_CLEAR:
                state["display"] = ["", ""]
            else:
                state["display"][0 if cmd == Cmd.DISPLAY_UPPER else 1] = line[:20]
            return []
        raise Refusal(XError.INVALID_COMMAND, f"command {cmd:#04x}")

    def _plu(self, text: str, params: list[str], byte: bool) -> list[str]:
        if byte:
            # Our reading of the 1-byte manual: P<TaxGr><PLU>,Group,Price,Qty,Name / D<PLU>.
            match = re.fullmatch(r"P([A-H])(\d+),(\d*),([\d.]+),[^,]*,(.+)", text)
            if match:
                group, number, dept, price, name = match.groups()
                self.device.program_plu(int(number), group, Decimal(price), name,
                                        int(dept or 0))
                return ["P"]
            if re.fullmatch(r"D\d+", text):
                self.device.delete_plu(int(text[1:]))
                return ["P"]
            raise Refusal(XError.SYNTAX, f"PLU {text!r}")
        if params[0] == "P" and len(params) >= 14:
            self.device.program_plu(int(params[1]), self._group(params[2]),
                                    Decimal(params[6]), params[13], int(params[3] or 0))
            return []
        if params[0] == "D":
            self.device.delete_plu(int(params[1]))
            return []
        raise Refusal(XError.SYNTAX, "PLU")

    # -- transports ------------------------------------------------------------------------

    def serve_connection(self, recv: Callable[[], bytes], send: Callable[[bytes], None]) -> None:
        reader = FrameReader()
        while True:
            chunk = recv()
            if not chunk:
                return
            for event in reader.feed(chunk):
                if isinstance(event, bytes):
                    self.handle(event, send)

    def serve_tcp(self, host: str, port: int, ready: Callable[[int], None]) -> None:
        server = socket.create_server((host, port))
        ready(server.getsockname()[1])
        while True:
            conn, _ = server.accept()
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            threading.Thread(target=self._tcp_session, args=(conn,), daemon=True).start()

    def _tcp_session(self, conn: socket.socket) -> None:
        with conn:
            try:
                self.serve_connection(lambda: conn.recv(4096), conn.sendall)
            except OSError:
                pass

    def serve_pty(self, ready: Callable[[str], None]) -> None:
        master, slave = pty.openpty()
        tty.setraw(slave)
        ready(os.ttyname(slave))

        def recv() -> bytes:
            try:
                return os.read(master, 4096) or b" "
            except OSError:     # no reader on the other side yet
                time.sleep(0.05)
                return b" "

        self.serve_connection(recv, lambda data: _write_all(master, data))


def _write_all(fd: int, data: bytes) -> None:
    while data:
        data = data[os.write(fd, data):]


def _announce(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def parse_vat(text: str | None) -> dict[str, str] | None:
    """``A:19,B:9,C:5,D:0`` (group:percent) for a new device's VAT table."""
    if not text:
        return None
    table = {}
    for item in text.split(","):
        group, _, rate = item.partition(":")
        try:
            value = Decimal(rate)
        except ArithmeticError as exc:
            raise ValueError(f"bad VAT rate {item!r}: use A:19,B:9") from exc
        if len(group) != 1 or group not in "ABCDEFGH" or not 0 <= value < 100:
            raise ValueError(f"bad VAT rate {item!r}: use A:19,B:9")
        table[group] = f"{value:.2f}"
    return table


def run(state_dir: Path, *, host: str = "127.0.0.1", port: int = 4999, dialect: str = "x",
        faults: list[str] | None = None, use_pty: bool = False,
        vat: str | None = None) -> None:
    """Serve until killed (the state on disk survives any kill)."""
    simulator = Simulator(state_dir, Dialect(dialect), parse_faults(faults or []),
                          vat=parse_vat(vat))
    if use_pty:
        simulator.serve_pty(lambda path: _announce(f"datecs simulator on {path}"))
    else:
        simulator.serve_tcp(host, port, lambda bound: _announce(
            f"datecs simulator ({simulator.dialect.value}) listening on {host}:{bound}"))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--state", required=True, type=Path, help="state directory")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=4999, help="0 picks a free port")
    parser.add_argument("--dialect", choices=("x", "byte"), default="x",
                        help="protocol of a new device (an existing state keeps its own)")
    parser.add_argument("--fault", action="append", default=[], help="NAME=N at start")
    parser.add_argument("--inject", action="append", default=[],
                        help="NAME=N into the running simulator of --state, then exit")
    parser.add_argument("--pty", action="store_true", help="serve a pseudo-terminal")
    parser.add_argument("--vat", help="VAT table of a new device, e.g. A:19,B:9,C:5,D:0")
    args = parser.parse_args(argv)
    if args.inject:
        inject(args.state, **parse_faults(args.inject))
        return
    run(args.state, host=args.host, port=args.port, dialect=args.dialect, faults=args.fault,
        use_pty=args.pty, vat=args.vat)


if __name__ == "__main__":
    main()
