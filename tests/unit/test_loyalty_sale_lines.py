"""The store and central build the sale accrual sees from the same sale body: the lines
``protocol.loyalty.sale_for_accrual`` reads from a body equal the ones the rules build from
the pricing engine's answer (``rules.loyalty.accrual.line_from_priced``)."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from protocol.loyalty import LineFacts, sale_for_accrual
from protocol.messages import SaleLineSchema
from rules.loyalty.accrual import line_from_priced
from rules.pricing import Adjustment, PricedLine, Product

CENTS = st.integers(min_value=0, max_value=50_000).map(lambda c: Decimal(c) / 100)
KINDS = st.sampled_from(["promotion", "sales_rule", "card", "voucher", "profile"])


@st.composite
def priced_lines(draw: st.DrawFn) -> PricedLine:
    gross = draw(CENTS)
    adjustments = tuple(
        Adjustment(kind, "C", 1, amount, "why")
        for kind, amount in draw(st.lists(st.tuples(KINDS, CENTS), max_size=3)))
    amount = max(gross - sum((a.amount for a in adjustments), Decimal(0)), Decimal(0))
    return PricedLine(sku=draw(st.sampled_from(["A", "B", "TOB"])), code="c", name="n",
                      qty=Decimal(draw(st.integers(1, 5))), unit_price=gross, amount=amount,
                      vat_rate=Decimal(22), gross=gross,
                      excluded_by=draw(st.sampled_from([None, "no-tobacco"])),
                      adjustments=adjustments)


def wire(line: PricedLine) -> dict[str, object]:
    """The line as the till writes it into the sale body, loaded back as central does."""
    loaded: dict[str, object] = SaleLineSchema().load({
        "sku": line.sku, "barcode": None, "name": line.name, "qty": str(line.qty),
        "unit_price": str(line.unit_price), "gross": str(line.gross),
        "amount": str(line.amount), "vat_rate": str(line.vat_rate),
        "excluded_by": line.excluded_by,
        "adjustments": [{"kind": a.kind, "code": a.code, "version": a.version,
                         "amount": str(a.amount), "reason": a.reason}
                        for a in line.adjustments]})
    return loaded


FACTS = {"A": LineFacts(("food", "dairy"), "Brand", None),
         "B": LineFacts((), None, Decimal(3)), "TOB": LineFacts(("tobacco",), None, None)}


@given(st.lists(priced_lines(), min_size=1, max_size=6), st.sets(st.integers(0, 5)))
def test_the_body_gives_the_lines_the_pricing_answer_gives(lines: list[PricedLine],
                                                           gifts: set[int]) -> None:
    sale = sale_for_accrual("S1", [wire(line) for line in lines], FACTS.__getitem__, gifts)
    expected = tuple(
        line_from_priced(number, line,
                         Product(sku=line.sku, name="n", price=line.unit_price,
                                 vat_rate=line.vat_rate, categories=FACTS[line.sku].categories,
                                 brand=FACTS[line.sku].brand),
                         kind="gift" if number in gifts else "goods",
                         product_points=FACTS[line.sku].product_points)
        for number, line in enumerate(lines))
    assert sale.lines == expected
    assert sale.document_id == "S1" and sale.document == "receipt"
