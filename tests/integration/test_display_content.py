"""Display content from head office (SPEC S6): set for a group or a store at central, the
store's own winning, carried on each store's stream; the agent caches the media over real
HTTP and keeps serving them with the media server gone; without head office's content the
local folder is the source again."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from central.app import create_app
from central.db import Database
from central.roles import MARKETING
from store_agent.pos import display_content
from store_agent.pos.api import create_app as create_pos_app
from store_agent.sqlite_store import LocalStore
from store_agent.sync.replica import Replica
from tests.integration.test_instructions import changes, to_agent
from tests.support import api_token, authorize, wait_until

pytestmark = pytest.mark.integration

PNG = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00"
       b"\x00\x00\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\xff\xff?\x00\x05\xfe\x02\xfe"
       b"\xa7\x35\x81\x84\x00\x00\x00\x00IEND\xaeB`\x82")


@pytest.fixture
def media_server(tmp_path: Path) -> Iterator[tuple[str, Callable[[], None]]]:
    root = tmp_path / "www"
    root.mkdir()
    (root / "autumn.png").write_bytes(PNG)

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, directory=str(root), **kwargs)  # type: ignore[arg-type]

        def log_message(self, *_args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    stopped = threading.Event()

    def stop() -> None:
        if not stopped.is_set():
            stopped.set()
            server.shutdown()
            server.server_close()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", stop
    finally:
        stop()


@pytest.fixture
def marketing(central_db: Database) -> FlaskClient:
    app = create_app({"DATABASE": central_db, "TESTING": True})
    admin = authorize(app.test_client(), api_token(central_db, "admin"))
    assert admin.post("/api/v1/store-groups/", json={"code": "north", "name": "North"}) \
        .status_code == 201
    for code in ("kiosk-1", "kiosk-2"):
        assert admin.post("/api/v1/stores/", json={"code": code, "name": code,
                                                   "group": "north"}).status_code == 201
    return authorize(app.test_client(), api_token(central_db, MARKETING))


def content_of(db: Database, store: str) -> list[dict[str, object]]:
    return [c for c in changes(db, store) if c["entity"] == "display_content"]


def test_head_office_content_is_cached_at_the_agent_and_shown_offline(
        marketing: FlaskClient, central_db: Database, tmp_path: Path,
        media_server: tuple[str, Callable[[], None]]) -> None:
    base, stop_media = media_server
    group = marketing.put("/api/v1/display-content/group/north", json={"items": [
        {"kind": "image", "src": f"{base}/autumn.png", "seconds": 8},
        {"kind": "url", "src": "https://example.org/offers"}]})
    assert group.status_code == 200, group.get_json()
    own = marketing.put("/api/v1/display-content/store/kiosk-2", json={"items": [
        {"kind": "url", "src": "https://example.org/kiosk-2"}]})
    assert own.status_code == 200
    assert content_of(central_db, "kiosk-1")[-1]["data"]["source"] == "group north"
    assert content_of(central_db, "kiosk-2")[-1]["data"]["items"] == [
        {"kind": "url", "src": "https://example.org/kiosk-2", "seconds": 10}]

    folder = tmp_path / "display"
    folder.mkdir()
    (folder / "local.png").write_bytes(PNG)
    agent = LocalStore(tmp_path / "agent" / "agent.db")
    pos = create_pos_app(agent, Replica(agent), "kiosk-1", lambda: {},
                         display_dir=folder).test_client()
    assert pos.get("/pos/v1/display/content").get_json()["source"].startswith("local folder")
    to_agent(agent, central_db)
    first = pos.get("/pos/v1/display/content").get_json()
    assert first["source"] == "head office"
    assert [i["kind"] for i in first["items"]] == ["url"]  # the image is being fetched
    assert "not cached yet" in first["problems"][0]

    def cached() -> list[dict[str, object]]:
        items: list[dict[str, object]] = pos.get("/pos/v1/display/content").get_json()["items"]
        return [i for i in items if i["kind"] == "image"]
    wait_until(cached, 20, what="the image in the agent's cache")
    stop_media()  # the line to the media server is down: the display still has it
    [image] = cached()
    assert image["seconds"] == 8 and str(image["src"]).startswith("/pos/v1/display/cache/")
    served = pos.get(str(image["src"]))
    assert served.status_code == 200 and served.data == PNG
    served.close()
    assert pos.get("/pos/v1/display/cache/..%2Fagent.db").status_code == 404

    # Removed at central: kiosk-1's display goes back to its local folder.
    assert marketing.delete("/api/v1/display-content/group/north").status_code == 204
    assert content_of(central_db, "kiosk-1")[-1]["op"] == "delete"
    assert content_of(central_db, "kiosk-2")[-1]["op"] == "upsert"  # its own stays
    to_agent(agent, central_db)
    assert pos.get("/pos/v1/display/content").get_json()["source"].startswith("local folder")


def test_the_agent_caches_the_media_before_any_display_asks(
        marketing: FlaskClient, central_db: Database, tmp_path: Path,
        media_server: tuple[str, Callable[[], None]]) -> None:
    base, stop_media = media_server
    assert marketing.put("/api/v1/display-content/store/kiosk-1", json={"items": [
        {"kind": "image", "src": f"{base}/autumn.png", "seconds": 8}]}).status_code == 200
    agent = LocalStore(tmp_path / "agent" / "agent.db")
    assert display_content.prefetch(agent, "kiosk-1") is None  # nothing from head office yet
    to_agent(agent, central_db)
    fetching = display_content.prefetch(agent, "kiosk-1")
    assert fetching is not None
    fetching.join(20)
    stop_media()
    # The first display to ask finds the picture cached, the media server gone meanwhile.
    pos = create_pos_app(agent, Replica(agent), "kiosk-1", lambda: {}).test_client()
    content = pos.get("/pos/v1/display/content").get_json()
    assert content["problems"] == [] and [i["kind"] for i in content["items"]] == ["image"]
    served = pos.get(str(content["items"][0]["src"]))
    assert served.status_code == 200 and served.data == PNG
    served.close()
    assert display_content.prefetch(agent, "kiosk-1") is None  # all cached: nothing to fetch


def test_bad_display_content_is_refused_with_reasons(
        marketing: FlaskClient, central_db: Database) -> None:
    cases = [({"items": [{"kind": "gif", "src": "https://x/y.gif"}]}, "kind"),
             ({"items": [{"kind": "image", "src": "file:///etc/passwd"}]}, "src"),
             ({"items": [{"kind": "image", "src": "https://x/y.png", "seconds": 0}]},
              "seconds"),
             ({"items": [{"kind": "url", "src": "https://x"}] * 101}, "items")]
    for body, words in cases:
        answer = marketing.put("/api/v1/display-content/store/kiosk-1", json=body)
        assert answer.status_code == 422, (body, answer.get_json())
        assert words in str(answer.get_json()), answer.get_json()
    assert marketing.put("/api/v1/display-content/store/nowhere", json={"items": []}) \
        .status_code == 404
    assert marketing.put("/api/v1/display-content/shelf/kiosk-1", json={"items": []}) \
        .status_code == 404
    assert content_of(central_db, "kiosk-1") == []
