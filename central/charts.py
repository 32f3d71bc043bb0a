"""Charts drawn on the server as SVG (no script, no CDN): bars with their values.

The SVG is built from escaped text and numbers only, so it is safe to put in a page as is.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from markupsafe import Markup, escape

Bar = tuple[str, int | Decimal | None]

WIDTH, HEIGHT, LEFT, BOTTOM, TOP = 720, 240, 48, 40, 28


def _number(value: int | Decimal) -> str:
    return f"{value:,}" if isinstance(value, int) else f"{value}"


def bar_chart(title: str, bars: Sequence[Bar], unit: str = "") -> Markup:
    """A vertical bar chart of ``bars`` (label, value; None is drawn as no bar)."""
    values = [v for _label, v in bars if v is not None]
    top = max([Decimal(v) for v in values] + [Decimal(1)])
    inner_w, inner_h = WIDTH - LEFT - 8, HEIGHT - BOTTOM - TOP
    step = inner_w / max(1, len(bars))
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" '
             f'viewBox="0 0 {WIDTH} {HEIGHT}" width="100%" aria-label="{escape(title)}">',
             f"<title>{escape(title)}</title>",
             f'<text x="{LEFT}" y="16" class="chart-title">{escape(title)}</text>',
             f'<line x1="{LEFT}" y1="{TOP + inner_h}" x2="{WIDTH - 8}" y2="{TOP + inner_h}" '
             'stroke="#555"/>',
             f'<text x="{LEFT - 6}" y="{TOP + 4}" text-anchor="end" font-size="11">'
             f"{escape(_number(top if values else 0))}{escape(unit)}</text>"]
    for index, (label, value) in enumerate(bars):
        x = LEFT + index * step
        height = 0.0 if value is None else float(Decimal(value) / top) * inner_h
        if value is not None:
            parts.append(f'<rect x="{x + step * 0.15:.1f}" y="{TOP + inner_h - height:.1f}" '
                         f'width="{step * 0.7:.1f}" height="{height:.1f}" fill="#1565c0">'
                         f"<title>{escape(label)}: {escape(_number(value))}{escape(unit)}"
                         "</title></rect>")
            parts.append(f'<text x="{x + step / 2:.1f}" y="{TOP + inner_h - height - 3:.1f}" '
                         f'text-anchor="middle" font-size="10">'
                         f"{escape(_number(value))}</text>")
        parts.append(f'<text x="{x + step / 2:.1f}" y="{TOP + inner_h + 14}" '
                     f'text-anchor="middle" font-size="10">{escape(label)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - built from escaped parts only
