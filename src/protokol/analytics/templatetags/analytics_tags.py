"""Number formats of the analytics pages."""

from django import template
from django.utils.formats import number_format
from django.utils.html import conditional_escape, format_html

from protokol.analytics import charts

register = template.Library()

# number_format cuts decimals off rather than rounding, so values are rounded first.


@register.filter
def days(seconds) -> str:
    """Format a duration in seconds as days with one decimal, or a dash."""
    return charts.days(seconds)


@register.filter
def percent(share) -> str:
    """Format a share from 0 to 1 as a percentage with one decimal, or a dash."""
    if share is None:
        return "—"
    return number_format(round(share * 100, 1), 1) + " %"


@register.filter
def ratio(value) -> str:
    """Format a ratio such as an index with two decimals, or a dash."""
    if value is None:
        return "—"
    return number_format(round(value, 2), 2)


@register.simple_tag
def drill(link: str, value, measure: str = ""):
    """Render `value` as a link to its drill-down list, or as text without a link.

    Groups that no filter can select, such as consultations without a
    district, have an empty `link`.
    """
    if not link:
        return conditional_escape(value)
    if measure:
        link = f"{link}&measure={measure}"
    return format_html('<a href="{}">{}</a>', link, value)
