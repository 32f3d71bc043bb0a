"""Printables: the registration form's labels in each language (read back with pdftotext),
loyalty cards whose bars decode, from the PDF's own drawing commands, to their EAN-13."""

from __future__ import annotations

import base64
import datetime as dt
import re
import shutil
import subprocess
import zlib
from pathlib import Path

import pytest

from central.printables import (
    CARD_HEIGHT_MM,
    CARD_WIDTH_MM,
    LANGUAGES,
    CardFace,
    PrintableError,
    Question,
    card_sheet,
    language_of,
    loyalty_card,
    message,
    registration_form,
)
from rules.barcodes import ean_check_digit
from rules.cards import CardError, loyalty_card_number

MM = 72 / 25.4


def pdftotext(pdf: bytes, tmp_path: Path) -> str:
    tool = shutil.which("pdftotext")
    assert tool, "pdftotext is missing: scripts/bootstrap.sh installs poppler-utils"
    path = tmp_path / "out.pdf"
    path.write_bytes(pdf)
    text = subprocess.run([tool, "-layout", str(path), "-"], capture_output=True, text=True,
                          check=True, timeout=60).stdout
    return re.sub(r"[ \t]+", " ", text)


def pages(pdf: bytes) -> list[str]:
    """The page content streams: the ASCII ones among the compressed streams (fonts are
    binary)."""
    found = []
    for raw in re.findall(rb"stream\r?\n(.*?)endstream", pdf, re.S):
        try:
            data = zlib.decompress(base64.a85decode(raw.strip(), adobe=True))
        except ValueError:
            continue
        except zlib.error:
            continue
        if re.fullmatch(rb"[\t\n\r -~]*", data) and b"BT" in data:
            found.append(data.decode("ascii"))
    return found


TOKEN = re.compile(r"(?P<push>^q$)|(?P<pop>^Q$)|"
                   r"^(?P<cm>[-\d. ]+) cm$|"
                   r"^(?:n )?(?P<re>[-\d.]+ [-\d.]+ [-\d.]+ [-\d.]+) re (?P<paint>f\*|f|n)$",
                   re.M)


def bars(content: str) -> list[tuple[float, float, float, float]]:
    """Filled rectangles (x, y, w, h) in page coordinates (the drawings only translate)."""
    offset, stack, found = (0.0, 0.0), [], []
    for token in TOKEN.finditer(content):
        if token["push"]:
            stack.append(offset)
        elif token["pop"]:
            offset = stack.pop()
        elif token["cm"]:
            a, b, c, d, e, f = map(float, token["cm"].split())
            assert (a, b, c, d) == (1, 0, 0, 1), "only translations expected"
            offset = (offset[0] + e, offset[1] + f)
        elif token["paint"] != "n":
            x, y, w, h = map(float, token["re"].split())
            found.append((offset[0] + x, offset[1] + y, w, h))
    return found


L_CODES = ["0001101", "0011001", "0010011", "0111101", "0100011",
           "0110001", "0101111", "0111011", "0110111", "0001011"]
R_CODES = ["".join("1" if b == "0" else "0" for b in code) for code in L_CODES]
G_CODES = [code[::-1] for code in R_CODES]
PARITY = ["LLLLLL", "LLGLGG", "LLGGLG", "LLGGGL", "LGLLGG",
          "LGGLLG", "LGGGLL", "LGLGLG", "LGLGGL", "LGGLGL"]


def decode_ean13(group: list[tuple[float, float, float, float]]) -> str:
    """The digits of one EAN-13 symbol from its bars, as a scanner reads the modules."""
    module = min(w for _, _, w, _ in group)
    x0 = min(x for x, _, _, _ in group)
    modules = ["0"] * 95
    for x, _, w, _ in group:
        start, width = round((x - x0) / module), round(w / module)
        for i in range(start, start + width):
            modules[i] = "1"
    pattern = "".join(modules)
    assert pattern[:3] == "101" and pattern[45:50] == "01010" and pattern[92:] == "101"
    parity, digits = "", ""
    for n in range(6):
        code = pattern[3 + 7 * n:10 + 7 * n]
        if code in L_CODES:
            parity, digits = parity + "L", digits + str(L_CODES.index(code))
        else:
            parity, digits = parity + "G", digits + str(G_CODES.index(code))
    for n in range(6):
        digits += str(R_CODES.index(pattern[50 + 7 * n:57 + 7 * n]))
    return str(PARITY.index(parity)) + digits


def barcodes(pdf: bytes) -> list[str]:
    """Every EAN-13 drawn in the PDF, page by page, top to bottom, left to right."""
    found = []
    for content in pages(pdf):
        rects = [r for r in bars(content) if r[2] < 3 * MM and r[3] > 5 * MM]
        rows: dict[float, list[tuple[float, float, float, float]]] = {}
        for rect in rects:
            rows.setdefault(round(rect[1] + rect[3], 1), []).append(rect)
        for top in sorted(rows, reverse=True):
            line = sorted(rows[top])
            group = [line[0]]
            for rect in line[1:]:
                if rect[0] - (group[-1][0] + group[-1][2]) > 10 * MM:
                    found.append(decode_ean13(group))
                    group = []
                group.append(rect)
            found.append(decode_ean13(group))
    return found


def page_sizes(pdf: bytes) -> list[tuple[float, float]]:
    return [(float(w), float(h)) for w, h in
            re.findall(rb"/MediaBox \[ 0 0 ([\d.]+) ([\d.]+) \]", pdf)]


# -- registration form ------------------------------------------------------------------------

LABELS = ("title", "first_name", "last_name", "mobile", "postcode", "country", "birth_date",
          "gender_female", "consent_email", "consent_sms", "withdraw", "store", "signature")


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_form_speaks_the_customers_language(language: str, tmp_path: Path) -> None:
    text = pdftotext(registration_form(language, chain="Market Nord"), tmp_path)
    for key in LABELS:
        assert message(key, language) in text, key
    others = [lang for lang in LANGUAGES if lang != language]
    assert not any(message("title", other) in text for other in others)


def test_romanian_letters_survive_and_the_expected_words_are_there(tmp_path: Path) -> None:
    text = pdftotext(registration_form("ro", chain="Market"), tmp_path)
    for words in ("Formular de înregistrare client", "Cod poștal", "Țară", "Data nașterii",
                  "Sunt de acord să primesc oferte și noutăți prin SMS."):
        assert words in text
    italian = pdftotext(registration_form("it-CH", chain="Market"), tmp_path)
    assert "Modulo di registrazione cliente" in italian and "Cellulare" in italian
    assert "Customer registration" in pdftotext(registration_form("de", chain="M"), tmp_path)
    assert (language_of(None), language_of("FR_be"), language_of("ro")) == ("en", "fr", "ro")


def test_mandatory_fields_extra_questions_store_and_date(tmp_path: Path) -> None:
    questions = [
        Question("pet", {"en": "Do you have a pet?", "fr": "Avez-vous un animal ?"}, "choice",
                 [{"en": "Dog", "fr": "Chien"}, {"en": "Cat", "fr": "Chat"}], mandatory=True),
        Question("shoe", "Pointure", "number"),
        Question("wedding", {"en": "Wedding day"}, "date")]
    pdf = registration_form("fr", chain="Market", store="Lyon Part-Dieu",
                            fields=["last_name", "first_name", "mobile"], mandatory=["mobile"],
                            questions=questions, on=dt.date(2026, 12, 1))
    text = pdftotext(pdf, tmp_path)
    assert "Téléphone portable *" in text and "Avez-vous un animal ? *" in text
    assert "Chien" in text and "Chat" in text and "Pointure" in text
    assert "Wedding day" in text and "JJ / MM / AAAA" in text  # no French label: English
    assert "Lyon Part-Dieu" in text and "2026-12-01" in text and "* obligatoire" in text
    assert "Adresse" not in text  # only the fields asked for
    assert text.index("Nom") < text.index("Prénom")  # in the order given
    with pytest.raises(PrintableError, match="unknown field.*shoe_size"):
        registration_form("en", chain="Market", fields=["first_name", "shoe_size"])


def test_a_long_form_continues_on_a_second_page(tmp_path: Path) -> None:
    questions = [Question(f"q{n}", f"Question number {n}") for n in range(30)]
    pdf = registration_form("en", chain="Market", questions=questions)
    assert len(page_sizes(pdf)) == 2
    text = pdftotext(pdf, tmp_path)
    assert "Question number 29" in text and "Market · 2" in text
    assert "I agree to receive offers and news by SMS." in text


def test_a_form_for_a_preprinted_card_carries_its_barcode(tmp_path: Path) -> None:
    number = loyalty_card_number("2000", 428)
    assert barcodes(registration_form("en", chain="Market", card_number=number)) == [number]


# -- loyalty cards ----------------------------------------------------------------------------

def test_one_card_is_credit_card_size_with_its_barcode_and_holder(tmp_path: Path) -> None:
    number = loyalty_card_number("29912", 77)
    pdf = loyalty_card(number, chain="Market", holder="Ștefan D'Amico", language="it")
    (width, height), = page_sizes(pdf)
    assert (round(width / MM, 1), round(height / MM, 1)) == (CARD_WIDTH_MM, CARD_HEIGHT_MM)
    decoded, = barcodes(pdf)
    assert decoded == number and int(decoded[-1]) == ean_check_digit(decoded[:12])
    text = pdftotext(pdf, tmp_path)
    assert "Carta fedeltà" in text and "Ștefan D'Amico" in text


def test_a_sheet_holds_ten_cards_a_page_in_order(tmp_path: Path) -> None:
    numbers = [loyalty_card_number("2000", serial) for serial in range(100, 112)]
    pdf = card_sheet([CardFace(n) for n in numbers], chain="Market", language="ro")
    sizes = page_sizes(pdf)
    assert len(sizes) == 2 and all(round(w / MM) == 210 and round(h / MM) == 297
                                   for w, h in sizes)
    assert barcodes(pdf) == numbers
    assert pdftotext(pdf, tmp_path).count("Card de fidelitate") == 12


def test_a_card_with_a_wrong_check_digit_is_not_printed() -> None:
    wrong = loyalty_card_number("2000", 5)[:12] + "0"
    if ean_check_digit(wrong[:12]) == 0:
        wrong = wrong[:12] + "1"
    with pytest.raises(CardError, match="wrong check digit"):
        loyalty_card(wrong, chain="Market")
    with pytest.raises(CardError, match="wrong check digit"):
        card_sheet([CardFace(loyalty_card_number("2000", 1)), CardFace(wrong)], chain="Market")
    with pytest.raises(PrintableError, match="at least one card"):
        card_sheet([], chain="Market")
