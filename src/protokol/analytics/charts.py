"""Bar charts as inline SVG, drawn on the server.

Each bar carries its value as text and each series its own fill pattern, so
the charts read without colour, and every chart has a title and a data table
beside it on the page.
"""

from django.utils.formats import number_format
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

SLOT = 64
HEIGHT = 220
TOP = 24
BOTTOM = 44
LEFT = 12
# Horizontal distance between two legend entries, which also leaves room for
# each entry's text.
LEGEND_STEP = 180

DEFS = mark_safe(
    '<defs><pattern id="hatch" width="6" height="6" patternUnits="userSpaceOnUse"'
    ' patternTransform="rotate(45)"><rect width="6" height="6" fill="#fff"/>'
    '<line x1="0" y1="0" x2="0" y2="6" stroke="#1d2430" stroke-width="2"/>'
    "</pattern></defs>"
)
SOLID = "#1f5fbf"


def days(seconds: float | None) -> str:
    """Return a duration in days with one decimal, or a dash without data.

    The decimal mark is the page language's, as in the tables beside the charts.
    """
    return "—" if seconds is None else _decimal(seconds / 86400)


def _decimal(value: float) -> str:
    # number_format cuts decimals off rather than rounding, so round first.
    return number_format(round(value, 1), 1)


def bar_chart(
    title: str, bars: list[tuple[str, float | None, str]], *, unit: str = ""
) -> SafeString:
    """Return one series of bars, each given as (label, value, link or "")."""
    return grouped_bar_chart(
        title,
        [(label, [(value, text_of(value, unit), link)]) for label, value, link in bars],
        [],
    )


def _number(value: float) -> str:
    return f"{value:.1f}"


def text_of(value: float | None, unit: str = "") -> str:
    if value is None:
        return "—"
    text = f"{value:g}" if isinstance(value, int) else _decimal(value)
    return f"{text} {unit}".strip()


def grouped_bar_chart(
    title: str,
    groups: list[tuple[str, list[tuple[float | None, str, str]]]],
    legend: list[str],
) -> SafeString:
    """Return bars in groups: each group has a label and (value, text, link) bars.

    The first bar of a group is solid, the second hatched; `legend` names them.
    """
    per_group = max((len(bars) for _, bars in groups), default=1)
    bar_width = (SLOT - 16) / per_group
    # A chart of few groups is widened so that the whole legend stays inside.
    width = max(
        LEFT * 2 + SLOT * max(len(groups), 1), LEFT * 2 + LEGEND_STEP * len(legend)
    )
    height = TOP + HEIGHT + BOTTOM + (24 if legend else 0)
    peak = max(
        (value for _, bars in groups for value, _, _ in bars if value is not None),
        default=0,
    )
    scale = HEIGHT / peak if peak else 0
    base = TOP + HEIGHT

    parts = [DEFS]
    parts.append(
        format_html(
            '<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="#5b6472"/>',
            LEFT,
            base,
            width - LEFT,
            base,
        )
    )
    for index, (label, bars) in enumerate(groups):
        left = LEFT + index * SLOT + 8
        for position, (value, text, link) in enumerate(bars):
            x = left + position * bar_width
            bar_height = (value or 0) * scale
            fill = "url(#hatch)" if position % 2 else SOLID
            bar = format_html(
                '<rect x="{}" y="{}" width="{}" height="{}" fill="{}"'
                ' stroke="#1d2430"><title>{}: {}</title></rect>'
                '<text x="{}" y="{}" text-anchor="middle" font-size="11">'
                "{}</text>",
                _number(x),
                _number(base - bar_height),
                _number(bar_width - 2),
                _number(bar_height),
                fill,
                label,
                text,
                _number(x + bar_width / 2 - 1),
                _number(base - bar_height - 4),
                text,
            )
            if link:
                bar = format_html('<a href="{}">{}</a>', link, bar)
            parts.append(bar)
        parts.append(
            format_html(
                '<text x="{}" y="{}" text-anchor="middle" font-size="11">{}</text>',
                _number(LEFT + index * SLOT + SLOT / 2),
                base + 16,
                label,
            )
        )
    for position, name in enumerate(legend):
        x = LEFT + position * LEGEND_STEP
        y = base + BOTTOM - 4
        fill = "url(#hatch)" if position % 2 else SOLID
        parts.append(
            format_html(
                '<rect x="{}" y="{}" width="14" height="14" fill="{}"'
                ' stroke="#1d2430"/>'
                '<text x="{}" y="{}" font-size="12">{}</text>',
                x,
                y,
                fill,
                x + 20,
                y + 12,
                name,
            )
        )
    body = format_html_join("", "{}", ((part,) for part in parts))
    return format_html(
        '<svg class="chart" xmlns="http://www.w3.org/2000/svg" role="img"'
        ' viewBox="0 0 {} {}" width="{}" height="{}"><title>{}</title>{}</svg>',
        width,
        height,
        width,
        height,
        title,
        body,
    )
