"""Paper receipts on an ESC/POS printer: real bytes over TCP (a socket standing in for a
network printer on port 9100) and to a device file."""

from __future__ import annotations

import socket
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from store_agent.pos.api import create_app
from store_agent.settings import ReceiptPrinterSettings, SettingsError, parse_receipt_printer
from store_agent.sqlite_store import LocalStore
from store_agent.sync.replica import Replica
from tests.integration.test_email_receipts import NOW, STORE, store  # noqa: F401 - fixture

pytestmark = pytest.mark.integration

INIT, CUT = b"\x1b@", b"\x1dV"


class PrinterSocket:
    """Accepts print jobs on a free port and keeps each job's bytes."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.jobs: list[bytes] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            with conn:
                chunks = []
                while data := conn.recv(65536):
                    chunks.append(data)
                if chunks:  # a bare connect (a reachability probe) is no job
                    self.jobs.append(b"".join(chunks))

    def close(self) -> None:
        self.server.close()


@pytest.fixture
def printer() -> Iterator[PrinterSocket]:
    sock = PrinterSocket()
    yield sock
    sock.close()


def real_logo(store: LocalStore) -> None:  # noqa: F811
    import base64
    import io

    from PIL import Image

    from tests.integration.test_email_receipts import DEFAULT, apply

    image = io.BytesIO()
    Image.new("1", (64, 24), 1).save(image, format="PNG")
    apply(store, "store-config", [{"version": 2, "entity": "receipt_profile", "key": "default",
                                   "op": "upsert", "data": {
                                       **DEFAULT,
                                       "logo_png": base64.b64encode(image.getvalue()).decode()}}])


def test_a_sale_prints_its_receipt_with_header_footer_and_cut(
        store: LocalStore, printer: PrinterSocket) -> None:  # noqa: F811
    real_logo(store)
    settings = parse_receipt_printer(f"escpos+tcp://127.0.0.1:{printer.port}")
    app = create_app(store, Replica(store), STORE, lambda: {}, clock=lambda: NOW,
                     receipt_printer=settings)
    client = app.test_client()
    sale_uuid = str(uuid.uuid4())
    sold = client.post("/pos/v1/sales", json={"uuid": sale_uuid,
                                              "lines": [{"code": "bread", "qty": "2"}]})
    assert sold.status_code == 201 and sold.get_json()["paper_receipt"] == "printed"
    deadline = threading.Event()
    for _ in range(50):
        if printer.jobs:
            break
        deadline.wait(0.1)
    [job] = printer.jobs
    assert job.startswith(INIT) and CUT in job
    text = job.decode("cp437", errors="replace")
    assert "TESSERA MARKETS" in text and "Thank you!" in text and "TOTAL" in text
    assert b"\x1dv0" in job  # the logo, as a raster image
    again = client.post(f"/pos/v1/sales/{sale_uuid}/receipt/print")
    assert again.status_code == 200
    for _ in range(50):
        if len(printer.jobs) == 2:
            break
        deadline.wait(0.1)
    assert len(printer.jobs) == 2


def test_a_dead_printer_never_fails_the_sale(store: LocalStore) -> None:  # noqa: F811
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = ReceiptPrinterSettings("tcp", f"127.0.0.1:{port}", timeout=1)
    client = create_app(store, Replica(store), STORE, lambda: {}, clock=lambda: NOW,
                        receipt_printer=settings).test_client()
    sale_uuid = str(uuid.uuid4())
    sold = client.post("/pos/v1/sales", json={"uuid": sale_uuid, "lines": [{"code": "bread"}]})
    assert sold.status_code == 201
    assert sold.get_json()["paper_receipt"].startswith("failed:")
    assert client.post(f"/pos/v1/sales/{sale_uuid}/receipt/print").status_code == 503
    no_printer = create_app(store, Replica(store), STORE, lambda: {}).test_client()
    assert no_printer.post(f"/pos/v1/sales/{sale_uuid}/receipt/print").status_code == 409


def test_a_device_file_receives_the_job(store: LocalStore, tmp_path: Path) -> None:  # noqa: F811
    device = tmp_path / "lp0"
    settings = parse_receipt_printer(f"escpos+file://{device}")
    client = create_app(store, Replica(store), STORE, lambda: {}, clock=lambda: NOW,
                        receipt_printer=settings).test_client()
    sold = client.post("/pos/v1/sales", json={"uuid": str(uuid.uuid4()),
                                              "lines": [{"code": "bread"}]})
    assert sold.get_json()["paper_receipt"] == "printed"
    assert device.read_bytes().startswith(INIT)


def test_receipt_printer_urls() -> None:
    assert parse_receipt_printer("escpos+tcp://10.0.0.9") == ReceiptPrinterSettings(
        "tcp", "10.0.0.9:9100")
    assert parse_receipt_printer("escpos+serial:///dev/ttyS0?baud=19200") == \
        ReceiptPrinterSettings("serial", "/dev/ttyS0", 19200)
    assert parse_receipt_printer(None) is None
    for bad in ("http://x", "escpos+usb://x", "escpos+serial://", "escpos+tcp://:9100"):
        with pytest.raises(SettingsError, match="TESSERA_RECEIPT_PRINTER_URL"):
            parse_receipt_printer(bad)
