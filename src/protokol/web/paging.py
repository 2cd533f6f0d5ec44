"""Pages of long lists that count their rows only up to a limit.

Counting every consultation of an organisation-wide list reads every row on
each request. These count at most COUNT_LIMIT rows, newest first through the
creation-time index, and report when there are more.
"""

from functools import cached_property

from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.utils.translation import gettext

from protokol.errors import ValidationFailed

COUNT_LIMIT = 1000
# LIMIT and OFFSET are signed 64-bit integers in SQLite and PostgreSQL, so
# offset + limit must fit one.
MAX_OFFSET_AND_LIMIT = 2**63 - 1


def check_page(limit: int, offset: int, max_limit: int) -> None:
    """Raise ValidationFailed naming `limit` or `offset` when a page is out of range."""
    if not 1 <= limit <= max_limit:
        raise ValidationFailed(
            gettext("limit must be between 1 and %(max)d.") % {"max": max_limit},
            field="limit",
        )
    if offset < 0:
        raise ValidationFailed(gettext("offset must not be negative."), field="offset")
    max_offset = MAX_OFFSET_AND_LIMIT - max_limit
    if offset > max_offset:
        raise ValidationFailed(
            gettext("offset must be at most %(max)d.") % {"max": max_offset},
            field="offset",
        )


def capped_count(queryset, limit: int = COUNT_LIMIT) -> tuple[int, bool]:
    """Return the number of rows, at most `limit`, and whether there are more.

    `queryset` is a QuerySet, counted by a query, or search results
    (search.services.RankedMatches), which hold their ids and count them.
    """
    if not isinstance(queryset, QuerySet):
        counted = min(queryset.count(), limit + 1)
        return min(counted, limit), counted > limit
    counted = queryset.order_by("-created_at", "-id")[: limit + 1].count()
    return min(counted, limit), counted > limit


class CappedPaginator(Paginator):
    """A Paginator whose count stops at COUNT_LIMIT; `more` is True when it did."""

    @cached_property
    def count(self) -> int:
        count, self.more = capped_count(self.object_list)
        return count

    @cached_property
    def count_label(self) -> str:
        """Return the count for display: "10000+" when it stopped at the limit."""
        return f"{self.count}+" if self.more else str(self.count)
