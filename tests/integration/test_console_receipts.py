"""The console's receipt profiles on real PostgreSQL: the chain's default and a store's
override (header, footer, logo upload, e-mail), previewed as the store prints them."""

from __future__ import annotations

import base64
import io
import struct
import zlib

import pytest
from flask.testing import FlaskClient

from central.db import Database
from central.services import receipts, stores
from tests.integration import test_console as console
from tests.integration.test_console import csrf

pytestmark = pytest.mark.integration

app_config, clock, signed_in = console.app_config, console.clock, console.signed_in


def png() -> bytes:
    """A real 1x1 PNG."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\x00\x00")) + chunk(b"IEND", b""))


def preview_of(page: str) -> list[str]:
    start = page.index("<pre data-receipt>") + len("<pre data-receipt>")
    return page[start:page.index("</pre>", start)].splitlines()


def test_the_default_and_a_store_override_are_previewed_then_saved(
        signed_in: FlaskClient, clean_pg_db: Database) -> None:
    with clean_pg_db.transaction() as session:
        stores.create_store(session, "kiosk-1", "Kiosk <b>One</b>")
    token = csrf(signed_in, "/receipts/default")
    form = {"csrf_token": token, "header": "TESSERA MARKET\nVia Roma 1",
            "footer": "Thank you!", "email_policy": "never"}
    preview = signed_in.post("/receipts/default", data={
        **form, "action": "preview", "logo": (io.BytesIO(png()), "logo.png")},
        content_type="multipart/form-data")
    page = preview.get_data(as_text=True)
    assert preview.status_code == 200 and "Preview (not saved)" in page
    lines = preview_of(page)
    assert lines[0].strip() == "TESSERA MARKET" and lines[-1].strip() == "Thank you!"
    assert any("White bread" in line for line in lines)
    assert f'src="data:image/png;base64,{base64.b64encode(png()).decode()}"' in page
    with clean_pg_db.sessions() as session:
        assert receipts.list_profiles(session) == []  # a preview writes nothing
    saved = signed_in.post("/receipts/default", data={
        **form, "action": "save", "logo": (io.BytesIO(png()), "logo.png")},
        content_type="multipart/form-data")
    assert saved.status_code == 200 and "Saved" in saved.get_data(as_text=True)

    # The store's own header; its footer and logo come from the default.
    override = signed_in.post("/receipts/kiosk-1", data={
        "csrf_token": token, "header": "KIOSK ONE", "footer": "", "action": "save"},
        content_type="multipart/form-data")
    page = override.get_data(as_text=True)
    assert override.status_code == 200, page
    lines = preview_of(page)
    assert lines[0].strip() == "KIOSK ONE" and lines[-1].strip() == "Thank you!"
    assert "Kiosk &lt;b&gt;One&lt;/b&gt;" in page and "data:image/png" in page
    with clean_pg_db.sessions() as session:
        wire = receipts.wire(receipts.get(session, "kiosk-1"))
        assert (wire["header"], wire["footer"], wire["logo_png"]) == (["KIOSK ONE"], None,
                                                                      None)
        # The default kept its logo though the form sent no new file.
        assert receipts.get(session, "default").logo_png == png()
    listing = signed_in.get("/receipts").get_data(as_text=True)
    assert 'data-profile="default"' in listing and 'data-profile="kiosk-1"' in listing
    assert signed_in.post("/receipts/kiosk-1/delete", data={"csrf_token": token}
                          ).status_code == 303
    with clean_pg_db.sessions() as session:
        assert [p.scope for p in receipts.list_profiles(session)] == ["default"]


def test_a_bad_profile_is_refused_with_its_reasons_and_writes_nothing(
        signed_in: FlaskClient, clean_pg_db: Database) -> None:
    token = csrf(signed_in, "/receipts/default")
    response = signed_in.post("/receipts/default", data={
        "csrf_token": token, "header": "x" * 60, "email_policy": "always",
        "logo": (io.BytesIO(b"GIF89a not a png"), "logo.gif"), "action": "save"},
        content_type="multipart/form-data")
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "one line of at most 48 characters" in page and "not a PNG image" in page
    with clean_pg_db.sessions() as session:
        assert receipts.list_profiles(session) == []
    assert signed_in.get("/receipts/no-such-store").status_code == 404
