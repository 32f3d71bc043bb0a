"""Display content from head office (SPEC S6): the promotional side of the customer display.

Central sends each store its content (``display_content`` entity on the store's own
stream: images, videos and web pages in rotation, set for the store or its group). Images
and videos are downloaded once into the agent's cache (``display-cache`` beside its
database, file names by the SHA-256 of their URL) and served from there, so the display
keeps showing them with the line down. Web pages are shown by URL (they need the line).

When head office has sent content, it replaces the local display folder as the source; an
item whose file is not cached yet is left out (and named in ``problems``) until it is.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from store_agent.pos.display import IMAGE_SUFFIXES, VIDEO_SUFFIXES, MediaItem
from store_agent.sqlite_store import LocalStore

log = logging.getLogger(__name__)

MAX_MEDIA = 200 * 1024 * 1024  # a video of a few minutes
TIMEOUT = 30.0


def cache_name(src: str, kind: str) -> str:
    suffix = Path(urlsplit(src).path).suffix.lower()
    allowed = IMAGE_SUFFIXES if kind == "image" else VIDEO_SUFFIXES
    return hashlib.sha256(src.encode()).hexdigest() + (suffix if suffix in allowed else "")


_CACHES: dict[Path, MediaCache] = {}
_CACHES_LOCK = threading.Lock()


class MediaCache:
    """Downloads head office's media into ``folder``, one background fetch at a time."""

    @classmethod
    def shared(cls, folder: Path) -> MediaCache:
        """The process's one cache of ``folder`` (the display API and the agent's prefetch
        share its fetch, so a file is never downloaded twice at once)."""
        key = folder.resolve()
        with _CACHES_LOCK:
            if key not in _CACHES:
                _CACHES[key] = cls(folder)
            return _CACHES[key]

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._lock = threading.Lock()
        self._running = False
        self.failures: dict[str, str] = {}

    def path_of(self, src: str, kind: str) -> Path | None:
        path = self.folder / cache_name(src, kind)
        return path if path.is_file() else None

    def fetch(self, src: str, kind: str) -> None:
        """Download one file (to a temporary name, renamed when complete)."""
        import requests  # only a store whose head office sends media needs it (~5 MB)

        self.folder.mkdir(parents=True, exist_ok=True)
        target = self.folder / cache_name(src, kind)
        partial = target.with_name(target.name + ".part")
        size = 0
        with requests.get(src, stream=True, timeout=TIMEOUT) as response:
            response.raise_for_status()
            with open(partial, "wb") as out:
                for chunk in response.iter_content(64 * 1024):
                    size += len(chunk)
                    if size > MAX_MEDIA:
                        raise ValueError(f"larger than {MAX_MEDIA // (1024 * 1024)} MiB")
                    out.write(chunk)
        partial.replace(target)

    def ensure(self, wanted: list[tuple[str, str]]) -> threading.Thread | None:
        """Start fetching the missing files of ``wanted`` (src, kind) unless a fetch runs."""
        missing = [(s, k) for s, k in wanted if self.path_of(s, k) is None]
        with self._lock:
            if not missing or self._running:
                return None
            self._running = True

        def run() -> None:
            import requests

            try:
                for src, kind in missing:
                    try:
                        self.fetch(src, kind)
                        self.failures.pop(src, None)
                    except (requests.RequestException, OSError, ValueError) as exc:
                        self.failures[src] = str(exc)
                        log.warning("display media %s not cached: %s", src, exc)
            finally:
                with self._lock:
                    self._running = False

        thread = threading.Thread(target=run, name="display-media", daemon=True)
        thread.start()
        return thread


def cache_folder(store: LocalStore) -> Path:
    return store.path.parent / "display-cache"


def prefetch(store: LocalStore, store_code: str) -> threading.Thread | None:
    """Start downloading head office's media for this store now, not when a display first
    asks (the agent calls it as content arrives); returns the fetch started, if any."""
    cache = MediaCache.shared(cache_folder(store))
    with store.read() as conn:
        row = conn.execute("SELECT data FROM display_content WHERE store = ?",
                           (store_code,)).fetchone()
    if row is None:
        return None
    return cache.ensure([(item["src"], item["kind"]) for item in json.loads(row[0]).get(
        "items", []) if item["kind"] != "url"])


def from_head_office(store: LocalStore, store_code: str, cache: MediaCache,
                     media_prefix: str) -> tuple[list[MediaItem], list[str]] | None:
    """Head office's content for this store, from the cache; None when it sent none."""
    with store.read() as conn:
        row = conn.execute("SELECT data FROM display_content WHERE store = ?",
                           (store_code,)).fetchone()
    if row is None:
        return None
    data: dict[str, Any] = json.loads(row[0])
    items: list[MediaItem] = []
    problems: list[str] = []
    wanted = []
    for item in data.get("items", []):
        kind, src, seconds = item["kind"], item["src"], item.get("seconds")
        if kind == "url":
            items.append(MediaItem("url", src, seconds or 10))
            continue
        wanted.append((src, kind))
        if cache.path_of(src, kind) is None:
            reason = cache.failures.get(src)
            problems.append(f"{src}: not cached yet" + (f" ({reason})" if reason else ""))
            continue
        items.append(MediaItem(kind, media_prefix + cache_name(src, kind),
                               seconds if kind == "image" else None))
    cache.ensure(wanted)
    return items, problems
