"""Shelf labels (PDF) with each product's sale price and points value (seeds/002: "print
the labels to show the new points values"), drawn with reportlab, 3 x 8 labels on A4."""

from __future__ import annotations

import io
from collections.abc import Sequence

from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas
from sqlalchemy import select
from sqlalchemy.orm import Session

from central.models import Product
from central.models.loyalty import ProductPointsValue
from central.services.errors import Invalid
from central.services.loyalty_profiles import get_profile

COLUMNS, ROWS = 3, 8
MARGIN = 10 * mm
NAME_CHARS = 32
MAX_LABELS = 500


def labels_pdf(session: Session, profile: str, skus: Sequence[str]) -> bytes:
    """One label per SKU (in the order given; none given: every product with a value):
    name, price, points value under ``profile``.

    Uncompressed pages, so the text can be read back (tests, a printer's preview).
    """
    get_profile(session, profile)
    if not skus:
        skus = list(session.scalars(select(ProductPointsValue.sku)
                                    .where(ProductPointsValue.profile_code == profile)
                                    .order_by(ProductPointsValue.sku).limit(MAX_LABELS)))
    products = {p.sku: p for p in session.scalars(select(Product)
                                                  .where(Product.sku.in_(list(skus)))).unique()}
    missing = [sku for sku in skus if sku not in products]
    if missing:
        raise Invalid("unknown products", {"sku": [f"no product {sku!r}" for sku in missing]})
    values = dict(session.execute(select(ProductPointsValue.sku, ProductPointsValue.points)
                                  .where(ProductPointsValue.profile_code == profile,
                                         ProductPointsValue.sku.in_(list(skus)))).all())
    out = io.BytesIO()
    canvas = Canvas(out, pagesize=A4, pageCompression=0, invariant=1)
    canvas.setTitle(f"Shelf labels ({profile})")
    width, height = A4
    cell_w = (width - 2 * MARGIN) / COLUMNS
    cell_h = (height - 2 * MARGIN) / ROWS
    for index, sku in enumerate(skus):
        if index and index % (COLUMNS * ROWS) == 0:
            canvas.showPage()
        slot = index % (COLUMNS * ROWS)
        x = MARGIN + (slot % COLUMNS) * cell_w
        y = height - MARGIN - (slot // COLUMNS + 1) * cell_h
        product = products[sku]
        canvas.rect(x + 1 * mm, y + 1 * mm, cell_w - 2 * mm, cell_h - 2 * mm)
        canvas.setFont("Helvetica", 9)
        canvas.drawString(x + 3 * mm, y + cell_h - 7 * mm, product.name[:NAME_CHARS])
        canvas.drawString(x + 3 * mm, y + 4 * mm, sku)
        canvas.setFont("Helvetica-Bold", 14)
        canvas.drawString(x + 3 * mm, y + cell_h / 2 - 2 * mm, f"EUR {product.sale_price}")
        points = values.get(sku)
        label = "-" if points is None else f"{points.normalize():f} pt"
        canvas.drawRightString(x + cell_w - 3 * mm, y + cell_h / 2 - 2 * mm, label)
    canvas.showPage()
    canvas.save()
    return out.getvalue()
