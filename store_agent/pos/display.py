"""The customer display's state: the basket each till shows now, and who waits for a change.

Tills publish what their customer should see (a priced basket, a paid sale, nothing);
displays wait for the next version of their till's view. State lives in memory only: a
restarted agent shows an empty basket until the till publishes again, which it does on
its next change.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MAX_TILLS = 64
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".gif", ".webp", ".svg"})
VIDEO_SUFFIXES = frozenset({".mp4", ".webm", ".ogv"})
URL_LIST = "urls.txt"
DEFAULT_SECONDS = 8


class TooManyTills(ValueError):
    """More tills published a basket than one store plausibly has."""


@dataclass(frozen=True)
class View:
    version: int
    body: dict[str, Any]


class DisplayHub:
    """The latest view per till; displays block on :meth:`wait` until it changes."""

    def __init__(self) -> None:
        self._views: dict[str, View] = {}
        self._changed = threading.Condition()
        self._version = 0

    def publish(self, till: str, body: dict[str, Any]) -> View:
        with self._changed:
            if till not in self._views and len(self._views) >= MAX_TILLS:
                raise TooManyTills(f"at most {MAX_TILLS} tills can drive displays")
            self._version += 1
            view = View(self._version, body)
            self._views[till] = view
            self._changed.notify_all()
            return view

    def current(self, till: str) -> View:
        with self._changed:
            return self._views.get(till) or View(0, {"state": "idle", "lines": []})

    def wait(self, till: str, after: int, timeout: float) -> View | None:
        """The till's view once its version is past ``after``; None after ``timeout``."""
        with self._changed:
            ready = self._changed.wait_for(
                lambda: self._views.get(till, View(0, {})).version > after, timeout)
            return self._views[till] if ready else None


@dataclass(frozen=True)
class MediaItem:
    kind: str  # image | video | url
    src: str
    seconds: int | None

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "src": self.src, "seconds": self.seconds}


class ContentError(ValueError):
    """A line of the display folder's url list that is not a usable URL."""


def local_content(folder: Path | None, media_prefix: str) -> tuple[list[MediaItem], list[str]]:
    """The promotional content of the display folder, in name order, and the problems found.

    Images and videos are served by the agent (``media_prefix`` + file name); ``urls.txt``
    lists web pages, one per line as ``URL [seconds]`` (``#`` starts a comment). Head office
    cannot send display content yet (no synced entity): this folder is the source.
    """
    items: list[MediaItem] = []
    problems: list[str] = []
    if folder is None or not folder.is_dir():
        return items, problems
    for path in sorted(folder.iterdir()):
        suffix = path.suffix.lower()
        if not path.is_file() or path.name.startswith("."):
            continue
        if suffix in IMAGE_SUFFIXES:
            items.append(MediaItem("image", media_prefix + path.name, DEFAULT_SECONDS))
        elif suffix in VIDEO_SUFFIXES:
            items.append(MediaItem("video", media_prefix + path.name, None))
        elif path.name == URL_LIST:
            for number, raw in enumerate(path.read_text(errors="replace").splitlines(), 1):
                line = raw.split("#", 1)[0].strip()
                if not line:
                    continue
                try:
                    items.append(_url_item(line))
                except ContentError as exc:
                    problems.append(f"{URL_LIST} line {number}: {exc}")
    return items, problems


def _url_item(line: str) -> MediaItem:
    parts = line.split()
    if len(parts) > 2:
        raise ContentError("expected 'URL [seconds]'")
    url = parts[0]
    if not url.startswith(("http://", "https://")) or len(url) > 2000:
        raise ContentError(f"{url[:60]!r} is not an http(s) URL")
    seconds = DEFAULT_SECONDS
    if len(parts) == 2:
        if not parts[1].isdigit() or not 1 <= int(parts[1]) <= 3600:
            raise ContentError("seconds must be a whole number from 1 to 3600")
        seconds = int(parts[1])
    return MediaItem("url", url, seconds)
