"""Barcode checks: EAN-13 and EAN-8 check digits; internal codes are free text."""

from __future__ import annotations


def ean_check_digit(body: str) -> int:
    """Check digit for the first 12 (EAN-13) or 7 (EAN-8) digits."""
    if not (body.isascii() and body.isdigit()):
        raise ValueError("an EAN body is digits only")
    total = 0
    for i, ch in enumerate(reversed(body)):
        total += int(ch) * (3 if i % 2 == 0 else 1)
    return (10 - total % 10) % 10


def barcode_kind(code: str) -> str:
    """``ean13``, ``ean8`` or ``internal``; raises ValueError for an EAN with a bad check digit."""
    if code.isascii() and code.isdigit() and len(code) in (8, 13):
        if ean_check_digit(code[:-1]) != int(code[-1]):
            raise ValueError(f"{code} has a wrong EAN check digit")
        return "ean13" if len(code) == 13 else "ean8"
    return "internal"
