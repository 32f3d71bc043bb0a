"""Printed matter for customers (K7): a registration form to fill by hand, loyalty cards.

Both come out as PDF bytes drawn with reportlab, in the customer's language (English,
Italian, French, Romanian; any other language prints in English). The loyalty card is
credit-card size (ID-1, 85.6 x 54 mm) with its EAN-13 barcode, alone on its page for a card
printer or ten to an A4 sheet with cut marks.

Text is set in DejaVu Sans (Debian's fonts-dejavu-core), which has every letter of the
four languages (Helvetica has no ș or ț); the PDF embeds it.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from rules.cards import check_loyalty_card

LANGUAGES = ("en", "it", "fr", "ro")
FIELDS = ("first_name", "last_name", "email", "mobile", "address", "postcode", "city",
          "country", "language", "birth_date", "gender")
CARD_WIDTH_MM, CARD_HEIGHT_MM = 85.6, 54.0
FONT_DIRS = (Path("/usr/share/fonts/truetype/dejavu"), Path("/usr/share/fonts/dejavu"),
             Path("/usr/local/share/fonts/dejavu"))

# One row per message: en, it, fr, ro.
_MESSAGES: dict[str, tuple[str, str, str, str]] = {
    "title": ("Customer registration", "Modulo di registrazione cliente",
              "Formulaire d'inscription client", "Formular de înregistrare client"),
    "intro": ("Please write in capital letters.", "Compili in stampatello, per favore.",
              "Merci d'écrire en majuscules.", "Vă rugăm să completați cu majuscule."),
    "first_name": ("First name", "Nome", "Prénom", "Prenume"),
    "last_name": ("Last name", "Cognome", "Nom", "Nume"),
    "email": ("E-mail", "E-mail", "E-mail", "E-mail"),
    "mobile": ("Mobile phone", "Cellulare", "Téléphone portable", "Telefon mobil"),
    "address": ("Address", "Indirizzo", "Adresse", "Adresă"),
    "postcode": ("Postcode", "CAP", "Code postal", "Cod poștal"),
    "city": ("City", "Città", "Ville", "Localitate"),
    "country": ("Country", "Paese", "Pays", "Țară"),
    "language": ("Language", "Lingua", "Langue", "Limbă"),
    "birth_date": ("Date of birth", "Data di nascita", "Date de naissance", "Data nașterii"),
    "gender": ("Gender", "Sesso", "Sexe", "Sex"),
    "gender_female": ("Female", "Donna", "Femme", "Feminin"),
    "gender_male": ("Male", "Uomo", "Homme", "Masculin"),
    "gender_other": ("Other", "Altro", "Autre", "Altul"),
    "date_hint": ("DD / MM / YYYY", "GG / MM / AAAA", "JJ / MM / AAAA", "ZZ / LL / AAAA"),
    "card_number": ("Card number", "Numero della carta", "Numéro de carte", "Numărul cardului"),
    "questions": ("A few more questions", "Qualche altra domanda", "Quelques autres questions",
                  "Alte câteva întrebări"),
    "consents": ("Consent", "Consensi", "Consentements", "Consimțământ"),
    "consent_email": ("I agree to receive offers and news by e-mail.",
                      "Acconsento a ricevere offerte e novità via e-mail.",
                      "J'accepte de recevoir des offres et des nouvelles par e-mail.",
                      "Sunt de acord să primesc oferte și noutăți prin e-mail."),
    "consent_sms": ("I agree to receive offers and news by SMS.",
                    "Acconsento a ricevere offerte e novità via SMS.",
                    "J'accepte de recevoir des offres et des nouvelles par SMS.",
                    "Sunt de acord să primesc oferte și noutăți prin SMS."),
    "withdraw": ("You may withdraw your consent at any time, in store or in writing.",
                 "Può revocare il consenso in qualsiasi momento, in negozio o per iscritto.",
                 "Vous pouvez retirer votre consentement à tout moment, en magasin ou par écrit.",
                 "Vă puteți retrage consimțământul oricând, în magazin sau în scris."),
    "store": ("Store", "Negozio", "Magasin", "Magazin"),
    "date": ("Date", "Data", "Date", "Data"),
    "signature": ("Signature", "Firma", "Signature", "Semnătura"),
    "required": ("* required", "* obbligatorio", "* obligatoire", "* obligatoriu"),
    "loyalty_card": ("Loyalty card", "Carta fedeltà", "Carte de fidélité", "Card de fidelitate"),
}


class PrintableError(ValueError):
    """Something a printable cannot be made from (an unknown field, no usable font)."""


def language_of(code: str | None) -> str:
    """The printable language for a customer's language code (``it-CH`` -> ``it``)."""
    primary = (code or "").replace("_", "-").split("-")[0].lower()
    return primary if primary in LANGUAGES else "en"


def message(key: str, language: str) -> str:
    return _MESSAGES[key][LANGUAGES.index(language_of(language))]


Text = str | Mapping[str, str]


def _localised(text: Text, language: str) -> str:
    if isinstance(text, str):
        return text
    lang = language_of(language)
    for candidate in (lang, "en"):
        if text.get(candidate):
            return text[candidate]
    return next(iter(text.values()), "")


@dataclass(frozen=True)
class Question:
    """An extra question head office asks (its label per language, or one text)."""

    code: str
    label: Text
    kind: Literal["text", "number", "date", "choice"] = "text"
    choices: Sequence[Text] = ()
    mandatory: bool = False


@dataclass(frozen=True)
class CardFace:
    number: str
    holder: str | None = None


# -- drawing ----------------------------------------------------------------------------------

_FONTS: dict[str, str] = {}


def _fonts() -> tuple[str, str]:
    """Register DejaVu Sans (regular, bold) once; fail with the package to install."""
    if not _FONTS:
        from reportlab.pdfbase import pdfmetrics
        from reportlab.pdfbase.ttfonts import TTFont

        for folder in FONT_DIRS:
            regular, bold = folder / "DejaVuSans.ttf", folder / "DejaVuSans-Bold.ttf"
            if regular.is_file() and bold.is_file():
                pdfmetrics.registerFont(TTFont("TesseraSans", str(regular)))
                pdfmetrics.registerFont(TTFont("TesseraSans-Bold", str(bold)))
                _FONTS.update(regular="TesseraSans", bold="TesseraSans-Bold")
                break
        else:
            raise PrintableError("no DejaVu Sans font found (Debian package fonts-dejavu-core, "
                                 "installed by scripts/bootstrap.sh)")
    return _FONTS["regular"], _FONTS["bold"]


def _canvas(out: io.BytesIO, size: tuple[float, float], title: str) -> Any:
    from reportlab.pdfgen.canvas import Canvas

    canvas = Canvas(out, pagesize=size, pageCompression=1)
    canvas.setTitle(title)
    canvas.setCreator("Tessera")
    return canvas


def _barcode(canvas: Any, number: str, x: float, y: float, module: float,
             height: float) -> float:
    """Draw the EAN-13 of ``number`` with its lower-left corner at (x, y); its width."""
    from reportlab.graphics import renderPDF
    from reportlab.graphics.barcode.eanbc import Ean13BarcodeWidget
    from reportlab.graphics.shapes import Drawing

    regular, _ = _fonts()
    number = check_loyalty_card(number)
    widget = Ean13BarcodeWidget(value=number[:12], barWidth=module, barHeight=height,
                                fontName=regular, fontSize=module * 9)
    x0, y0, x1, y1 = widget.getBounds()
    drawing = Drawing(x1 - x0, y1 - y0)
    drawing.add(widget)
    renderPDF.draw(drawing, canvas, x - x0, y - y0)
    return float(x1 - x0)


def registration_form(language: str | None, *, chain: str, store: str | None = None,
                      fields: Sequence[str] = FIELDS, mandatory: Iterable[str] = (),
                      questions: Sequence[Question] = (), card_number: str | None = None,
                      on: dt.date | None = None) -> bytes:
    """An A4 registration form for a customer to fill by hand, in their language.

    ``fields`` are record fields (of ``FIELDS``) in their order; ``mandatory`` the codes
    (fields or questions) marked required; ``questions`` head office's extra questions;
    ``card_number`` prints a pre-printed card's number and barcode on the form; ``store``
    and ``on`` fill the store and date lines (left blank to write otherwise).
    """
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.units import mm

    unknown = [f for f in fields if f not in FIELDS]
    if unknown:
        raise PrintableError(f"unknown field(s) {', '.join(unknown)}; "
                             f"the form knows {', '.join(FIELDS)}")
    required = set(mandatory)
    regular, bold = _fonts()
    lang = language_of(language)
    out = io.BytesIO()
    width, height = A4
    canvas = _canvas(out, A4, f"{chain} - {message('title', lang)}")
    left, right, bottom = 20 * mm, width - 20 * mm, 22 * mm
    y = height - 22 * mm

    def need(space: float) -> None:
        nonlocal y
        if y - space < bottom:
            footer()
            canvas.showPage()
            y = height - 22 * mm

    def footer() -> None:
        canvas.setFont(regular, 8)
        canvas.drawString(left, 12 * mm, message("required", lang))
        canvas.drawRightString(right, 12 * mm, f"{chain} · {canvas.getPageNumber()}")

    def label(text: str, code: str) -> str:
        return f"{text} *" if code in required else text

    def box(x: float, base: float) -> float:
        canvas.rect(x, base - 0.5 * mm, 3.5 * mm, 3.5 * mm)
        return float(x + 5.5 * mm)

    def choices(options: Sequence[str], x: float, base: float) -> None:
        canvas.setFont(regular, 10)
        for option in options:
            x = box(x, base)
            canvas.drawString(x, base, option)
            x += canvas.stringWidth(option, regular, 10) + 8 * mm

    def write_line(text: str, code: str, hint: str = "") -> None:
        nonlocal y
        need(11 * mm)
        canvas.setFont(regular, 10)
        canvas.drawString(left, y, label(text, code))
        start = left + 48 * mm
        canvas.setLineWidth(0.4)
        canvas.line(start, y - 1 * mm, right, y - 1 * mm)
        if hint:
            canvas.setFont(regular, 7)
            canvas.drawRightString(right, y + 1.5 * mm, hint)
        y -= 10 * mm

    canvas.setFont(bold, 16)
    canvas.drawString(left, y, chain)
    y -= 8 * mm
    canvas.setFont(bold, 13)
    canvas.drawString(left, y, message("title", lang))
    y -= 6 * mm
    canvas.setFont(regular, 9)
    canvas.drawString(left, y, message("intro", lang))
    y -= 11 * mm

    if card_number is not None:
        need(24 * mm)
        canvas.setFont(regular, 10)
        canvas.drawString(left, y, message("card_number", lang))
        _barcode(canvas, card_number, left + 48 * mm, y - 14 * mm, 0.33 * mm, 14 * mm)
        y -= 26 * mm

    for code in fields:
        if code == "gender":
            need(11 * mm)
            canvas.setFont(regular, 10)
            canvas.drawString(left, y, label(message("gender", lang), code))
            choices([message(k, lang) for k in ("gender_female", "gender_male", "gender_other")],
                    left + 48 * mm, y)
            y -= 10 * mm
        else:
            write_line(message(code, lang), code,
                       message("date_hint", lang) if code == "birth_date" else "")

    if questions:
        need(20 * mm)
        y -= 3 * mm
        canvas.setFont(bold, 11)
        canvas.drawString(left, y, message("questions", lang))
        y -= 9 * mm
        for question in questions:
            text = _localised(question.label, lang)
            code = question.code
            if question.mandatory:
                required.add(code)
            if question.kind == "choice":
                need(11 * mm)
                canvas.setFont(regular, 10)
                canvas.drawString(left, y, label(text, code))
                y -= 7 * mm
                choices([_localised(c, lang) for c in question.choices], left + 4 * mm, y)
                y -= 10 * mm
            else:
                write_line(text, code,
                           message("date_hint", lang) if question.kind == "date" else "")

    need(40 * mm)
    y -= 3 * mm
    canvas.setFont(bold, 11)
    canvas.drawString(left, y, message("consents", lang))
    y -= 8 * mm
    for key in ("consent_email", "consent_sms"):
        canvas.setFont(regular, 10)
        canvas.drawString(box(left, y), y, message(key, lang))
        y -= 7 * mm
    canvas.setFont(regular, 8)
    canvas.drawString(left, y, message("withdraw", lang))
    y -= 14 * mm

    need(12 * mm)
    canvas.setFont(regular, 10)
    thirds = (right - left) / 3
    for n, (key, value) in enumerate((("store", store), ("date", on and on.isoformat()),
                                      ("signature", None))):
        x = left + n * thirds
        caption = message(key, lang)
        canvas.drawString(x, y, caption)
        start = x + canvas.stringWidth(caption, regular, 10) + 2 * mm
        canvas.line(start, y - 1 * mm, x + thirds - 4 * mm, y - 1 * mm)
        if value:
            canvas.drawString(start + 1 * mm, y + 0.5 * mm, value)
    footer()
    canvas.save()
    return out.getvalue()


def _card(canvas: Any, face: CardFace, chain: str, lang: str, x: float, y: float) -> None:
    from reportlab.lib.units import mm

    regular, bold = _fonts()
    canvas.setFont(bold, 12)
    canvas.drawString(x + 5 * mm, y + 45 * mm, chain)
    canvas.setFont(regular, 8)
    canvas.drawRightString(x + (CARD_WIDTH_MM - 5) * mm, y + 45.5 * mm,
                           message("loyalty_card", lang))
    if face.holder:
        canvas.setFont(regular, 10)
        canvas.drawString(x + 5 * mm, y + 36 * mm, face.holder[:40])
    module = 0.33 * mm
    bar_width = _barcode_width(module)
    _barcode(canvas, face.number, x + (CARD_WIDTH_MM * mm - bar_width) / 2, y + 5 * mm,
             module, 16 * mm)


def _barcode_width(module: float) -> float:
    from reportlab.graphics.barcode.eanbc import Ean13BarcodeWidget

    x0, _, x1, _ = Ean13BarcodeWidget(value="000000000000", barWidth=module).getBounds()
    return float(x1 - x0)


def loyalty_card(number: str, *, chain: str, holder: str | None = None,
                 language: str | None = None) -> bytes:
    """One card on a page of its own size (85.6 x 54 mm), for a card printer."""
    from reportlab.lib.units import mm

    lang = language_of(language)
    out = io.BytesIO()
    canvas = _canvas(out, (CARD_WIDTH_MM * mm, CARD_HEIGHT_MM * mm),
                     f"{chain} - {message('loyalty_card', lang)}")
    _card(canvas, CardFace(number, holder), chain, lang, 0, 0)
    canvas.save()
    return out.getvalue()


SHEET_COLUMNS, SHEET_ROWS = 2, 5


def card_sheet(cards: Sequence[CardFace], *, chain: str, language: str | None = None) -> bytes:
    """Cards ten to an A4 page (2 x 5, edge to edge) with cut marks at every corner."""
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.units import mm

    if not cards:
        raise PrintableError("a sheet needs at least one card")
    for face in cards:
        check_loyalty_card(face.number)
    lang = language_of(language)
    out = io.BytesIO()
    width, height = A4
    canvas = _canvas(out, A4, f"{chain} - {message('loyalty_card', lang)}")
    card_w, card_h = CARD_WIDTH_MM * mm, CARD_HEIGHT_MM * mm
    margin_x = (width - SHEET_COLUMNS * card_w) / 2
    margin_y = (height - SHEET_ROWS * card_h) / 2
    per_page = SHEET_COLUMNS * SHEET_ROWS
    for start in range(0, len(cards), per_page):
        if start:
            canvas.showPage()
        canvas.setLineWidth(0.25)
        for column in range(SHEET_COLUMNS + 1):  # cut marks in the margins only
            x = margin_x + column * card_w
            canvas.line(x, 3 * mm, x, margin_y - 2 * mm)
            canvas.line(x, height - margin_y + 2 * mm, x, height - 3 * mm)
        for row in range(SHEET_ROWS + 1):
            y = margin_y + row * card_h
            canvas.line(3 * mm, y, margin_x - 2 * mm, y)
            canvas.line(width - margin_x + 2 * mm, y, width - 3 * mm, y)
        for n, face in enumerate(cards[start:start + per_page]):
            column, row = n % SHEET_COLUMNS, n // SHEET_COLUMNS
            x = margin_x + column * card_w
            y = height - margin_y - (row + 1) * card_h
            _card(canvas, face, chain, lang, x, y)
    canvas.save()
    return out.getvalue()
