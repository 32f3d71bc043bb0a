"""Every label the head-office console shows has an Italian, French and Romanian translation.

The msgids are extracted from the console's source the way ``pybabel extract`` does it (the
mapping in central/console/babel.cfg, with ``lazy_gettext`` as a keyword), so a new page's
labels are found without anyone listing them; the catalogues read are the .po files in git
(the .mo files are compiled from them by scripts/bootstrap.sh). A translation must not be
missing, empty or fuzzy (fuzzy ones are left out of the compiled catalogue), and must keep the
msgid's placeholders: a lost ``%(count)s`` hides a figure, an extra one breaks the page.
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

CONSOLE = Path(__file__).resolve().parents[2] / "central" / "console"
TRANSLATIONS = CONSOLE / "translations"
LANGUAGES = ("it", "fr", "ro")
# %(name)s, %s, %d, the escaped %% (templates format every string) and str.format's {n}
PLACEHOLDER = re.compile(r"%\([A-Za-z_]\w*\)[sdif]|%[sdif%]|\{[A-Za-z_]\w*\}")


@functools.cache
def extracted() -> dict[str, tuple[str, int]]:
    """Each msgid the console uses, with the first place it is used (file, line)."""
    with (CONSOLE / "babel.cfg").open() as cfg:
        method_map, options_map = parse_mapping_cfg(cfg)
    keywords = dict(DEFAULT_KEYWORDS, lazy_gettext=None)
    found: dict[str, tuple[str, int]] = {}
    for filename, lineno, message, _comments, _context in extract_from_dir(
            str(CONSOLE), method_map, options_map, keywords=keywords):
        for msgid in (message if isinstance(message, tuple) else (message,)):
            if msgid:
                found.setdefault(msgid, (f"central/console/{filename}", lineno))
    return found


def catalogue(language: str) -> Catalog:
    with (TRANSLATIONS / language / "LC_MESSAGES" / "messages.po").open("rb") as po:
        return read_po(po, locale=language)


def placeholders(text: str) -> Counter[str]:
    return Counter(PLACEHOLDER.findall(text))


def test_the_extraction_finds_the_console_labels() -> None:
    # The check below is only as good as the extraction: labels from templates, from Python
    # and from lazy_gettext must all be found.
    found = extracted()
    assert "Cashiers" in found  # the menu, a template
    assert "Visits per day" in found  # footfall's chart title, Python gettext
    assert found["Visits per day"][0].endswith(".py")
    assert any(path.endswith("references.py") for path, _line in found.values())  # lazy


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_console_label_is_translated(language: str) -> None:
    found = extracted()
    cat = catalogue(language)
    missing = []
    for msgid, (path, line) in sorted(found.items(), key=lambda item: item[1]):
        entry = cat.get(msgid)
        strings = entry.string if entry is not None else ""
        forms = strings if isinstance(strings, tuple) else (strings,)
        if entry is None or entry.fuzzy or not all(form.strip() for form in forms):
            missing.append(f"{path}:{line}: {msgid!r}")
    assert not missing, (f"{len(missing)} console labels have no {language} translation:\n"
                         + "\n".join(missing))


@pytest.mark.parametrize("language", LANGUAGES)
def test_translations_keep_the_placeholders(language: str) -> None:
    wrong = []
    for entry in catalogue(language):
        if not entry.id or not entry.string:
            continue
        ids = entry.id if isinstance(entry.id, tuple) else (entry.id,)
        strings = entry.string if isinstance(entry.string, tuple) else (entry.string,)
        wanted = placeholders(ids[-1])
        for text in strings:
            got = placeholders(text)
            # a plural form may leave out the number ("un prodotto"), never bring another
            fits = got <= wanted if len(ids) > 1 else got == wanted
            if text and not fits:
                wrong.append(f"{entry.id!r} -> {text!r}: {dict(got)} instead of {dict(wanted)}")
    assert not wrong, f"{language} translations change placeholders:\n" + "\n".join(wrong)
