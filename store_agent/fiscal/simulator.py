"""A Datecs fiscal printer simulator on TCP (or a pty), state on disk, faults on demand.

Run ``python -m store_agent.fiscal.simulator --port 4999 --state DIR
[--family x|printer|register] [--model NAME]`` (or ``tessera agent printer-sim``). It is the
test oracle of the driver, so it is written from the manuals of each family, not from the
driver: it parses each command as that family's manual lays it out, answers in the manual's
shapes (docs/fiscal-datecs.md has the references), refuses with "invalid command" anything
the family's manual does not list, repeats its last answer for a repeated SEQ, NAKs a frame
it cannot read, and keeps its memory in ``DIR/state.json`` (see :mod:`.simulator_device`).

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

Why one file of ~600 lines: it is one protocol-faithful device (state, commands, faults) for
tests and the demo: frames and commands here, the device's memory already in ``simulator_device``.
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
from store_agent.fiscal.datecs_family import (
    MANUAL_COMMANDS,
    REFUND_REASONS,
    Family,
    group_of_code,
    to_signed,
)
from store_agent.fiscal.datecs_syntax import (
    CLOCK_FORMAT,
    PRINTING,
    STORNO_TIME_BYTE,
    X_DST,
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
MODELS = {Family.X: "FP-700X", Family.PRINTER: "FP-550", Family.REGISTER: "DP-25"}
BYTE_FLAG = {XError.SYNTAX: StatusFlag.SYNTAX_ERROR,
             XError.INVALID_COMMAND: StatusFlag.INVALID_COMMAND}
X_PAYMENTS = {"0", "1", "2", "3", "4", "5"}
BYTE_PAYMENTS = {Family.PRINTER: set("PNCDIJKLijklmnopqrs"), Family.REGISTER: set("PNCDIJ")}
FIRMWARE_DATE = "01Jan24 1200"


def parse_faults(specs: list[str]) -> dict[str, int]:
    return sim_files.parse_faults(specs, FAULTS)


def inject(directory: Path, **faults: int) -> None:
    """Switch faults on a running simulator (it reads the file before its next frame)."""
    sim_files.write_faults(directory, FAULTS, faults)


class Simulator(sim_files.Countdowns):
    def __init__(self, directory: Path, family: Family, faults: dict[str, int] | None = None,
                 model: str | None = None, encoding: str = "cp1251",
                 vat: dict[str, str] | None = None) -> None:
        self.device = SimDevice(directory, family.value, model or MODELS[family], vat)
        state = self.device.state
        self.family = Family.parse(state.get("family") or state["dialect"])
        self.dialect = self.family.dialect
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
            # 1-byte: 53 and 107 answer 'F' (printers p. 20, 32); the cash registers also
            # answer <ErrCode> 'F' to 48 and 46 (registers p. 10).
            failing = {Cmd.PAYMENT, Cmd.PLU} | ({Cmd.OPEN, Cmd.REFUND_OPEN_BYTE}
                                                if self.family is Family.REGISTER else set())
            fields = ["F"] if cmd in failing else []
        flags = frozenset(device.flags() | command_flags)
        if self.dialect is Dialect.X:
            text = join(self.dialect, str(code), *([] if code else fields))
        else:
            text = join(self.dialect, *fields)
        if self.dialect is Dialect.X and cmd == Cmd.INFO and not data and not code:
            text = ",".join(fields)     # X 90 syntax 2 (no data): Answer(2), no error code
        answer = encode_answer(self.dialect, seq, cmd, text.encode(self.encoding, "replace"),
                               encode_status(self.dialect, flags, self.family.value))
        device.state["last_seq"], device.state["last_answer"] = seq, answer.hex()
        device.save()
        return answer

    # -- commands --------------------------------------------------------------------------

    def _params(self, text: str) -> list[str]:
        if self.dialect is Dialect.BYTE:
            return text.split(",") if text else []
        parts = text.split("\t")
        if not parts or parts[-1] != "":
            raise Refusal(XError.SYNTAX, "X parameters end in TAB")
        return parts[:-1]

    def _group(self, code: str, *, plu: bool = False) -> str:
        group = group_of_code(self.family, code, plu=plu)
        if group is None:
            raise Refusal(XError.SYNTAX, f"tax group {code!r}")
        return group

    def _amount(self, value: Decimal, width: int) -> str:
        """1-byte amounts "with a sign" (76, 69): in the smallest unit."""
        return to_signed(money(value), width)

    def _dispatch(self, cmd: int, text: str) -> list[str]:
        if cmd not in MANUAL_COMMANDS[self.family]:
            raise Refusal(XError.INVALID_COMMAND, f"command {cmd} is not in this manual")
        try:
            params = [] if cmd == Cmd.INFO and self.dialect is Dialect.X and not text \
                else self._params(text)
            return self._command(cmd, text, params)
        except (IndexError, ValueError, InvalidOperation) as exc:
            raise Refusal(XError.SYNTAX, str(exc)) from exc

    def _command(self, cmd: int, text: str, params: list[str]) -> list[str]:
        device, family = self.device, self.family
        byte = self.dialect is Dialect.BYTE
        state = device.state
        if cmd == Cmd.STATUS:
            return []
        if cmd == Cmd.INFO:
            return self._info()
        if cmd == Cmd.OPEN:
            return self._open(params)
        if cmd in (Cmd.REFUND_OPEN_BYTE, Cmd.REFUND_OPEN_X):
            return self._storno(cmd, params)
        if cmd == Cmd.SALE:
            return self._sale(text, params)
        if cmd == Cmd.SELL_PLU:
            device.sell_plu(int(params[0]), Decimal(params[1] if len(params) > 1 else "1"))
            return [] if byte else [str(state["receipt"]["document"])]
        if cmd == Cmd.PAYMENT:
            return self._payment(text, params)
        if cmd in (Cmd.TEXT, Cmd.NONFISCAL_TEXT):
            line = text if byte else params[0]
            width = {Family.REGISTER: 36 if cmd == Cmd.TEXT else 40}.get(family, 200)
            if cmd == Cmd.TEXT:
                device.text(line[:width])     # registers 54: cut after the 36th character
            else:
                device.nonfiscal_text(line[:width])
            return []
        if cmd == Cmd.CLOSE:
            documents, number = device.close_receipt()
            # X 56: SlipNumber; 1-byte 56: Allreceipt,FiscReceipt (since the last Z).
            return [str(documents)] if not byte else [str(state["day_documents"]),
                                                      str(state["day_fiscal"])]
        if cmd == Cmd.CANCEL:
            device.cancel_receipt()
            return []
        if cmd == Cmd.NONFISCAL_OPEN:
            documents, _ = device.open_receipt("nonfiscal")
            return [str(documents)]
        if cmd == Cmd.NONFISCAL_CLOSE:
            return [str(device.nonfiscal_close())]
        if cmd == Cmd.TX_STATUS:
            return self._tx_status(params)
        if cmd == Cmd.LAST_DOC:
            return [f"{state['documents']:07d}"]
        if cmd == Cmd.READ_CLOCK:
            shown = device.now().strftime(CLOCK_FORMAT)
            return [shown + (X_DST if state.get("dst") else "")] if not byte else [shown]
        if cmd == Cmd.SET_CLOCK:
            raw = (text if byte else params[0]).strip()
            summer = not byte and raw.endswith(X_DST.strip())
            raw = raw[:-3].strip() if summer else raw
            layout = CLOCK_FORMAT if byte and raw.count(":") == 2 or not byte \
                else "%d-%m-%y %H:%M"
            device.set_clock(datetime.strptime(raw, layout))  # noqa: DTZ007
            state["dst"] = summer
            return []
        if cmd == Cmd.REPORT:
            return self._report(text, params)
        if cmd == Cmd.DUPLICATE:
            if byte and text != "1":
                raise Refusal(XError.SYNTAX, "109 takes Count 1")
            device.duplicate()
            return []
        if cmd == Cmd.VAT_BYTE and byte and not text:
            # 83 without data: Multiplier,Decimals,Currency_name,EnabledT,TaxA..TaxH.
            vat = state["vat"]
            mask = "".join("1" if g in vat else "0" for g in VAT_GROUPS)
            return ["0", "2", "BGN", mask, *(vat.get(g, "0.00") for g in VAT_GROUPS)]
        if cmd == Cmd.VAT_X and not byte:
            # 50: nZreport, TaxA..TaxH (100.00 = disabled), EntDate.
            return [str(state["z_number"] + 1),
                    *(state["vat"].get(g, "100.00") for g in VAT_GROUPS), "01-01-24"]
        if cmd == Cmd.PLU:
            return self._plu(text, params, byte)
        if cmd in (Cmd.DISPLAY_CLEAR, Cmd.DISPLAY_UPPER, Cmd.DISPLAY_LOWER):
            if family is Family.X and state["model"] in ("FMP-350X", "FMP-55X"):
                raise Refusal(XError.INVALID_COMMAND, "no display on this model")
            line = text if byte else (params[0] if params else "")
            if cmd == Cmd.DISPLAY_CLEAR:
                state["display"] = ["", ""]
            else:
                state["display"][0 if cmd == Cmd.DISPLAY_UPPER else 1] = line[:20]
            return []
        raise Refusal(XError.INVALID_COMMAND, f"command {cmd:#04x}")

    def _info(self) -> list[str]:
        state = self.device.state
        model, firmware = state["model"], state["firmware"]
        serial, memory = state["serial"], state["fiscal_memory"]
        if self.family is Family.X:
            date, time_ = FIRMWARE_DATE.split()
            return [model, firmware, date, time_, "ABCD", "00000000", serial, memory]
        if self.family is Family.PRINTER:
            # <Name>,<FwRev><Country><Sp><FwDate><Sp><FwTime>,<Chk>,<Sw>,<Ser>,<FM>
            return [model, f"{firmware}BG {FIRMWARE_DATE}", "FFFF", "00000000", serial, memory]
        # <Name><FwRev><Sp><FwDate><Sp><FwTime>,<Chk>,<Sw>,<FM>,<Ser> as the manual prints it.
        return [f"{model}{firmware} {FIRMWARE_DATE}", "FFFF", "00000000", memory, serial]

    def _open(self, params: list[str]) -> list[str]:
        family = self.family
        if family is Family.X:
            # Syntax 1: OpCode, OpPwd, TillNmb, Invoice; syntax 2 adds NSale after OpPwd.
            if len(params) == 4:
                operator, password, till, invoice = params
                nsale = ""
            elif len(params) == 5:
                operator, password, nsale, till, invoice = params
                if not re.fullmatch(r"[A-Z]{2}\d{6}-[0-9A-Za-z]{4}-\d{7}", nsale):
                    raise Refusal(XError.SYNTAX, f"NSale {nsale!r}")
            else:
                raise Refusal(XError.SYNTAX, "48 has 4 or 5 parameters")
        elif family is Family.PRINTER:
            if len(params) < 3 or len(params) > 5:
                raise Refusal(XError.SYNTAX, "48: OpNum,Password,TillNum[,I][,UNP]")
            operator, password, till = params[:3]
            invoice = params[3] if len(params) > 3 and params[3] == "I" else ""
            if not re.fullmatch(r"\d{4,8}", password):
                raise Refusal(XError.SYNTAX, "the password has 4 to 8 digits")
        else:
            if len(params) >= 4 and not params[2].isdigit():
                operator, password, _nsale, till = params[:4]      # syntax 1, with NSale
                invoice = params[4] if len(params) > 4 else ""
            elif 3 <= len(params) <= 4:
                operator, password, till = params[:3]
                invoice = params[3] if len(params) > 3 else ""
            else:
                raise Refusal(XError.SYNTAX, "48: OpCode,OpPwd[,NSale],TillNmb[,Invoice]")
        if invoice not in ("", "I") or not operator.isdigit() or not till.isdigit():
            raise Refusal(XError.SYNTAX, "48 parameters")
        documents, _number = self.device.open_receipt("sale")
        if family is Family.X:
            return [str(documents)]
        state = self.device.state
        return [str(state["day_documents"]), str(state["day_fiscal"])]

    def _storno(self, cmd: int, params: list[str]) -> list[str]:
        family, state = self.family, self.device.state
        reasons = set(REFUND_REASONS[family].values())
        if family is Family.X:
            if cmd != Cmd.REFUND_OPEN_X or len(params) != 11:
                raise Refusal(XError.SYNTAX, "43 has 11 parameters")
            _op, _pwd, _till, reason, document, moment, memory, _i, _to, _why, nsale = params
            text = moment[:-3].strip() if moment.endswith("DST") else moment
            datetime.strptime(text, CLOCK_FORMAT)  # noqa: DTZ007
            if not nsale:
                raise Refusal(XError.SYNTAX, "NSale is needed for a receipt printed by a PC")
        elif family is Family.PRINTER:
            if cmd != Cmd.REFUND_OPEN_BYTE or len(params) < 7:
                raise Refusal(XError.SYNTAX, "46: ...,<StType><DocNo>,<StUNP>,<StDT>,<StFMIN>")
            head = params[3]
            reason, document = head[:1], head[1:]
            nsale, moment, memory = params[4], params[5], params[6].partition("#")[0]
            datetime.strptime(moment, STORNO_TIME_BYTE)  # noqa: DTZ007
        else:
            if cmd != Cmd.REFUND_OPEN_BYTE or len(params) < 8:
                raise Refusal(XError.SYNTAX, "46: OpCode,OpPwd,NSale,TillNmb,DocType,...")
            _op, _pwd, nsale, _till, reason, document, moment, memory = params[:8]
            datetime.strptime(moment, STORNO_TIME_BYTE if len(moment) == 12  # noqa: DTZ007
                              else "%d%m%y%H%M")
        if reason not in reasons or not document.isdigit() or not memory.isdigit():
            raise Refusal(XError.SYNTAX, "storno reason, document or fiscal memory")
        origin = {"document": document, "fiscal_memory": memory, "unp": nsale,
                  "reason": reason}
        documents, _number = self.device.open_receipt("refund", origin)
        if family is Family.X:
            return [str(documents)]
        return [str(state["day_documents"]), str(state["day_refunds"])]

    def _sale(self, text: str, params: list[str]) -> list[str]:
        device, family = self.device, self.family
        if family is Family.X:
            if len(params) not in (7, 8):
                raise Refusal(XError.SYNTAX, "49 has 7 or 8 parameters")
            name, code, price, qty, disc_type, disc, _department = params[:7]
            if not name or len(name) > 72:
                raise Refusal(XError.SYNTAX, "PluName: 1 to 72 characters")
            if disc_type in ("", "0") and disc:
                raise Refusal(XError.SYNTAX, "DiscountValue must be empty without a type")
            if disc_type not in ("", "0", "4"):
                raise Refusal(XError.SYNTAX, "only sum discounts are simulated")
            group = self._group(code)
        else:
            name, tab, item = text.partition("\t")
            limit = 22 if family is Family.REGISTER else 42
            match = re.fullmatch(r"(.)(-?[\d.]+)(?:\*([\d.]+))?(?:;-([\d.]+))?", item)
            if not tab or not match or len(name.split("\n")[0]) > limit:
                raise Refusal(XError.SYNTAX, f"sale {text!r}")
            code, price, qty, disc = match.groups()
            group = self._group(code)
        device.sell(name, group, Decimal(price), Decimal(qty or "1"), Decimal(disc or "0"))
        return [str(device.state["receipt"]["document"])] if family is Family.X else []

    def _payment(self, text: str, params: list[str]) -> list[str]:
        if self.family is Family.X:
            method, amount = params[0], params[1] if len(params) > 1 else ""
            if method not in X_PAYMENTS or not amount:
                raise Refusal(XError.SYNTAX, "53: PaidMode 0-5 and an amount")
            answer, rest = self.device.pay(method, Decimal(amount))
            return [answer, money(rest)]
        tender = text.partition("\t")[2]
        method, amount = (tender[:1], tender[1:]) if tender[:1].isalpha() else ("P", tender)
        if method not in BYTE_PAYMENTS[self.family]:
            raise Refusal(XError.SYNTAX, f"payment type {method!r}")
        answer, rest = self.device.pay(method, Decimal(amount) if amount else None)
        return [f"{answer}{to_signed(money(rest), 10)}"]

    def _tx_status(self, params: list[str]) -> list[str]:
        device = self.device
        is_open, items, due, tendered = device.tx_status()
        if self.family is Family.X:
            receipt = device.state["receipt"]
            kind = 0
            if receipt is not None and receipt["kind"] != "nonfiscal":
                reason = receipt["origin"].get("reason", "")
                kind = {"0": 2, "1": 3, "2": 4}.get(reason, 3) if receipt["kind"] == \
                    "refund" else 1
            number = device.current_or_last_number()
            return [str(kind), str(number), str(items), money(due), money(tendered)]
        if params not in ([], ["T"]):
            raise Refusal(XError.SYNTAX, "76 takes T or nothing")
        any_open = device.state["receipt"] is not None
        answer = ["1" if any_open else "0", str(items), self._amount(due, 9)]
        return [*answer, self._amount(tendered, 9)] if params == ["T"] else answer

    def _report(self, text: str, params: list[str]) -> list[str]:
        byte = self.dialect is Dialect.BYTE
        kind = text.strip() if byte else params[0]
        if kind not in (("0", "2") if byte else ("Z", "X")):
            raise Refusal(XError.SYNTAX, f"report {kind!r}")
        number, totals, refunds = self.device.report(zero=kind in ("0", "Z"))
        if not byte:
            # X 69: nRep, TotA..TotH, StorA..StorH.
            return [str(number), *(money(totals[g]) for g in VAT_GROUPS),
                    *(money(refunds[g]) for g in VAT_GROUPS)]
        # 1-byte 69: Closure,FM_Total,TotA..TotH, 12 bytes with a sign.
        every = sum(totals.values(), Decimal("0"))
        return [f"{number:04d}", self._amount(every, 12),
                *(self._amount(totals[g], 12) for g in VAT_GROUPS)]

    def _plu(self, text: str, params: list[str], byte: bool) -> list[str]:
        if byte:
            # 107 'P': P<TaxGr><PLU>,<Group>,<SPrice>,[A]<Quantity>,<Name>; 'D': D<PLU>.
            groups, names = (9, 22) if self.family is Family.REGISTER else (99, 36)
            match = re.fullmatch(r"P(.)(\d+),(\d+),([\d.]+),A?[\d.]+,(.+)", text)
            if match:
                code, number, stock, price, name = match.groups()
                if not 1 <= int(stock) <= groups or len(name) > names:
                    raise Refusal(XError.SYNTAX, "PLU group or name")
                self.device.program_plu(int(number), self._group(code, plu=True),
                                        Decimal(price), name, int(stock))
                return ["P"]
            if re.fullmatch(r"D\d+", text):
                self.device.delete_plu(int(text[1:]))
                return ["P"]
            raise Refusal(XError.SYNTAX, f"PLU {text!r}")
        if params[0] == "P" and len(params) in (14, 15):
            _p, number, code, _dep, stock, price_type, price = params[:7]
            name = params[13]
            if not 1 <= int(stock) <= 99 or price_type not in ("0", "1", "2") or \
                    not 0 < len(name) <= 72:
                raise Refusal(XError.SYNTAX, "PLU group, price type or name")
            self.device.program_plu(int(number), self._group(code, plu=True),
                                    Decimal(price), name, int(stock))
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
        vat: str | None = None, model: str | None = None) -> None:
    """Serve until killed (the state on disk survives any kill).

    ``dialect`` is the family of a new device: ``x``, ``printer`` or ``register`` (``byte``
    is the older name of ``printer``)."""
    simulator = Simulator(state_dir, Family.parse(dialect), parse_faults(faults or []),
                          model=model, vat=parse_vat(vat))
    if use_pty:
        simulator.serve_pty(lambda path: _announce(f"datecs simulator on {path}"))
    else:
        simulator.serve_tcp(host, port, lambda bound: _announce(
            f"datecs simulator ({simulator.family.value}) listening on {host}:{bound}"))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--state", required=True, type=Path, help="state directory")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=4999, help="0 picks a free port")
    parser.add_argument("--family", "--dialect", dest="family", default="x",
                        choices=("x", "printer", "register", "byte"),
                        help="device family of a new device (an existing state keeps its "
                             "own); byte is the older name of printer")
    parser.add_argument("--model", help="model name of a new device (default per family)")
    parser.add_argument("--fault", action="append", default=[], help="NAME=N at start")
    parser.add_argument("--inject", action="append", default=[],
                        help="NAME=N into the running simulator of --state, then exit")
    parser.add_argument("--pty", action="store_true", help="serve a pseudo-terminal")
    parser.add_argument("--vat", help="VAT table of a new device, e.g. A:19,B:9,C:5,D:0")
    args = parser.parse_args(argv)
    if args.inject:
        inject(args.state, **parse_faults(args.inject))
        return
    run(args.state, host=args.host, port=args.port, dialect=args.family, faults=args.fault,
        use_pty=args.pty, vat=args.vat, model=args.model)


if __name__ == "__main__":
    main()
