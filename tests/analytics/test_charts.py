"""The server-drawn SVG charts of the analytics overview."""

import re

from django.utils import translation

from protokol.analytics import charts


def _view_width(svg: str) -> float:
    return float(re.search(r'viewBox="0 0 ([\d.]+) ', svg)[1])


def test_legend_inside_chart_of_one_period():
    svg = charts.grouped_bar_chart(
        "Время обработки",
        [("2026-12", [(1.0, "1.0", ""), (2.0, "2.0", "")])],
        ["медиана", "90-й процентиль"],
    )
    legend_texts = re.findall(r'<text x="([\d.]+)" y="[\d.]+" font-size="12">', svg)

    assert len(legend_texts) == 2
    # Each entry's text starts at its x and needs room for about 15 characters.
    for x in legend_texts:
        assert float(x) + 100 <= _view_width(svg)


def test_chart_without_legend_keeps_slot_width():
    svg = charts.bar_chart("Консультации", [("2026-12", 7, "")])

    assert _view_width(svg) == charts.LEFT * 2 + charts.SLOT


def test_chart_numbers_use_page_decimal_mark():
    with translation.override("ru"):
        russian = (charts.days(11.44 * 86400), charts.text_of(2.5, "дн."))
    with translation.override("en"):
        english = (charts.days(11.44 * 86400), charts.text_of(2.5, "days"))

    assert russian == ("11,4", "2,5 дн.")
    assert english == ("11.4", "2.5 days")
