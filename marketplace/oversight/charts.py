"""Server-rendered SVG charts: no script, no font download; each comes with its table.

A chart is a function of plain numbers; text is escaped; sizes are in the viewBox so the
chart scales with the page (and the phone).
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from markupsafe import Markup

COLOURS = ("#0b5cad", "#1b7a3d", "#b7791f", "#7c3aed", "#b3261e")


def bars(
    labels: Sequence[str],
    series: Sequence[tuple[str, Sequence[int]]],
    title: str,
    value_text: object = str,
) -> Markup:
    """Grouped bars: one group per label, one bar per series, with a legend and the largest
    value marked on the axis. ``value_text`` formats a value for the axis and tooltips."""
    width, height, left, bottom, top = 640, 260, 8, 28, 36
    groups = max(len(labels), 1)
    top_value = max([v for _name, values in series for v in values] + [1])
    group_w = (width - left * 2) / groups
    bar_w = max(group_w / (len(series) + 1), 2)
    plot_h = height - bottom - top
    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
        f'<line x1="{left}" y1="{height - bottom}" x2="{width - left}" y2="{height - bottom}" '
        'stroke="#dde2e8"/>',
        f'<text x="{left}" y="{top - 8}" font-size="11" fill="#5a6472">'
        f"{escape(str(value_text(top_value)))}</text>",  # type: ignore[operator]
        f'<line x1="{left}" y1="{top}" x2="{width - left}" y2="{top}" stroke="#eef1f4"/>',
    ]
    for g, label in enumerate(labels):
        x0 = left + g * group_w + bar_w / 2
        for s, (name, values) in enumerate(series):
            value = values[g] if g < len(values) else 0
            h = plot_h * value / top_value
            x = x0 + s * bar_w
            parts.append(
                f'<rect x="{x:.1f}" y="{height - bottom - h:.1f}" width="{bar_w * 0.9:.1f}" '
                f'height="{h:.1f}" fill="{COLOURS[s % len(COLOURS)]}"><title>{escape(name)} '
                f"{escape(label)}: {escape(str(value_text(value)))}</title></rect>"  # type: ignore[operator]
            )
        parts.append(
            f'<text x="{left + g * group_w + group_w / 2:.1f}" y="{height - 10}" font-size="11" '
            f'text-anchor="middle" fill="#5a6472">{escape(label)}</text>'
        )
    for s, (name, _values) in enumerate(series):
        x = left + s * 150
        parts.append(
            f'<rect x="{x}" y="6" width="10" height="10" fill="{COLOURS[s % len(COLOURS)]}"/>'
            f'<text x="{x + 14}" y="15" font-size="11" fill="#1b2430">{escape(name)}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))
