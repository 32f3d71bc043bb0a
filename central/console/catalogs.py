"""Compile the console's translations (.po, kept in git) into .mo files (built, not kept).

``python -m central.console.catalogs`` (run by scripts/bootstrap.sh) compiles each catalogue
whose .mo is missing or older than its .po; a catalogue with errors fails loudly.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

TRANSLATIONS = Path(__file__).resolve().parent / "translations"


def compile_all(root: Path = TRANSLATIONS, force: bool = False) -> list[Path]:
    """Compile the stale catalogues under ``root``; returns the .mo files written."""
    written = []
    for po_path in sorted(root.glob("*/LC_MESSAGES/*.po")):
        mo_path = po_path.with_suffix(".mo")
        if not force and mo_path.exists() and mo_path.stat().st_mtime >= po_path.stat().st_mtime:
            continue
        with po_path.open("rb") as po_file:
            catalog = read_po(po_file, locale=po_path.parts[-3])
        problems = [f"{po_path}: {message.id!r}: {error}"
                    for message, errors in catalog.check() for error in errors]
        if problems:
            raise SystemExit("\n".join(problems))
        tmp = mo_path.with_suffix(f".mo.{os.getpid()}.tmp")  # parallel test workers compile too
        with tmp.open("wb") as mo_file:
            write_mo(mo_file, catalog)
        tmp.replace(mo_path)
        written.append(mo_path)
    return written


if __name__ == "__main__":
    for path in compile_all(force="--force" in sys.argv[1:]):
        print(f"compiled {path}", file=sys.stderr)  # noqa: T201 - a build step's report
