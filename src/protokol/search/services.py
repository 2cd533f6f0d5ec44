"""Full-text search over the consultations a user may see, ranked by relevance."""

import re
from collections.abc import Iterator
from datetime import datetime

from django.db import connection
from django.db.models import QuerySet
from django.utils.translation import gettext

from protokol.consultations import permissions
from protokol.errors import ValidationFailed
from protokol.search.text import fold, stems, words
from protokol.validation import check_query_text

# Longer queries are rejected: no real search needs more, and each word costs
# an index lookup.
MAX_QUERY_CHARS = 200
# A whole consultation number such as КП-2026-000123 is looked up exactly,
# also with the prefix transliterated to Latin KP.
NUMBER = re.compile(r"(?:кп|kp)-(\d{4}-\d+)")
# Only the newest matches are ranked, one more than this so that lists can
# tell there are more. Ranking every match of a common word read every
# matching document: seconds at a million consultations.
# NOTE: an older, better match of a common word is not listed; remove when
# the ranking reads an index (such as RUM) instead of the documents.
MAX_RANKED = 1000
# On PostgreSQL a search first reads the matches among the FIRST_WINDOW
# newest search documents. A window larger than MAX_WINDOW is not tried,
# because reading that much of the creation-time index costs more than
# sorting every match that the GIN index returns.
FIRST_WINDOW = 8192
MAX_WINDOW = 200_000
_TSQUERY = "plainto_tsquery('russian', %s)"
# A match: the consultation id, its rank and a value that orders as its
# creation time does (microseconds since 1970 on PostgreSQL, the datetime on
# SQLite).
Match = tuple[int, float, int | datetime]


def reads_internal(user) -> bool:
    """Return whether `user`'s searches include internal notes.

    The caller has already limited the consultations to consultation_scope,
    and within it staff of the department may read internal notes
    (permissions.can_view_internal) while citizens may not.
    """
    return user.role in permissions.DEPARTMENT_ROLES


class RankedMatches:
    """Consultations matching a search, best match first, fetched a page at a time.

    It contains the (id, rank) pairs of every ranked match, so counting costs no
    query and a slice costs one query for the consultations of that slice.
    Each consultation of a slice gets `search_rank`. Paginator and slicing
    callers use it like the QuerySet it was built from.
    """

    # Paginator warns about an unordered object list without this.
    ordered = True

    def __init__(self, queryset: QuerySet, ranked: list[tuple[int, float]]):
        self._queryset = queryset
        self._ranked = ranked

    def count(self) -> int:
        return len(self._ranked)

    def __len__(self) -> int:
        return len(self._ranked)

    def __getitem__(self, key):
        if isinstance(key, slice):
            return self._fetch(self._ranked[key])
        return self._fetch([self._ranked[key]])[0]

    def __iter__(self) -> Iterator:
        return iter(self._fetch(self._ranked))

    def _fetch(self, ranked: list[tuple[int, float]]) -> list:
        """Return the consultations of `ranked` in its order, with their ranks."""
        if not ranked:
            return []
        rows = self._queryset.in_bulk([pk for pk, _rank in ranked])
        found = []
        for pk, rank in ranked:
            # A consultation deleted since the ranking is left out.
            consultation = rows.get(pk)
            if consultation is not None:
                consultation.search_rank = rank
                found.append(consultation)
        return found


def search(queryset: QuerySet, user, query: str) -> QuerySet | RankedMatches:
    """Filter `queryset` to consultations matching `query`, best match first.

    The rows are the newest MAX_RANKED + 1 matches, as RankedMatches. Each
    gets `search_rank`: ts_rank on PostgreSQL, minus bm25 on SQLite; higher
    is better on both. Ties go to the newer consultation, then the higher id.
    A whole consultation number returns a QuerySet of at most one row, and a
    query without words an empty QuerySet.
    """
    if len(query) > MAX_QUERY_CHARS:
        raise ValidationFailed(
            gettext("q must be at most %(max)d characters long; shorten the query.")
            % {"max": MAX_QUERY_CHARS},
            field="q",
        )
    check_query_text(query, field="q")
    folded = " ".join(fold(query).split())
    number = NUMBER.fullmatch(folded)
    if number:
        return queryset.filter(number=f"КП-{number[1]}")
    if not words(folded):
        return queryset.none()

    internal = reads_internal(user)
    if connection.vendor == "postgresql":
        matches = _newest_postgresql(queryset, folded, _vector(internal))
    else:
        matches = _newest_sqlite(queryset, folded, internal)
    return RankedMatches(queryset, _best_first(matches))


def _best_first(matches: list[Match]) -> list[tuple[int, float]]:
    """Order matches by rank, then creation time, then id, all descending."""
    ordered = sorted(matches, key=lambda match: (match[1], match[2], match[0]))
    return [(pk, rank) for pk, rank, _created in reversed(ordered)]


# The index table is joined to the consultations with QuerySet.extra(): a
# correlated subquery per row made FTS5 run the whole MATCH once per match.
_CONSULTATION_ID = '"consultations_consultation"."id"'


def _newest_sqlite(queryset: QuerySet, folded: str, internal: bool) -> list[Match]:
    """Return the newest MAX_RANKED + 1 matches, newest first."""
    matches = _sqlite(queryset, folded, internal).order_by("-created_at", "-id")
    return list(
        matches.values_list("pk", "search_rank", "created_at")[: MAX_RANKED + 1]
    )


def _newest_postgresql(queryset: QuerySet, folded: str, vector: str) -> list[Match]:
    """Return the newest MAX_RANKED + 1 matches, newest first.

    The first try reads only the matches among the FIRST_WINDOW newest
    search documents. When too few of them match, the second window is sized
    from the share that matched. When that window would exceed MAX_WINDOW
    documents or also has too few matches, the search reads all matches.
    Every match outside a window is older than every document in it, so a
    window with more than MAX_RANKED matches contains the newest ones.
    """
    window = FIRST_WINDOW
    while window <= MAX_WINDOW:
        since = _window_start(window)
        if since is None:
            break
        newest = _newest_since(queryset, folded, vector, since)
        if len(newest) > MAX_RANKED:
            return newest
        if not newest or window > FIRST_WINDOW:
            break
        # Twice the estimated size, and at least 8 times the first window, so
        # that the second window seldom falls short.
        window = max(2 * window * (MAX_RANKED + 1) // len(newest), 8 * window)
    return _newest_since(queryset, folded, vector, None)


def _window_start(size: int):
    """Return the creation time of the `size`-th newest search document, if any."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT created_at FROM search_document "
            "ORDER BY created_at DESC, consultation_id DESC OFFSET %s LIMIT 1",
            [size - 1],
        )
        row = cursor.fetchone()
    return row[0] if row else None


def _newest_since(queryset: QuerySet, folded: str, vector: str, since) -> list[Match]:
    # The rank comes with the match, so the vectors are read once. The
    # creation time is the document's copy, which triggers keep equal to the
    # consultation's, as whole microseconds: psycopg loads 1,001 integers
    # faster than 1,001 timestamps.
    select = {
        "search_rank": f"ts_rank({vector}, {_TSQUERY})",
        "created_microseconds": "(extract(epoch FROM search_document.created_at)"
        " * 1000000)::bigint",
    }
    where = [
        f"search_document.consultation_id = {_CONSULTATION_ID}",
        f"{vector} @@ {_TSQUERY}",
    ]
    params = [folded]
    # Without a window, ordering by the consultations' index lets the planner
    # walk it when most rows match.
    order = ["-created_at", "-id"]
    if since is not None:
        where.append("search_document.created_at >= %s")
        params.append(since)
        # Ordered by the document's copy of created_at, so that the planner
        # reads the matches from search_document first and joins only those.
        order = ["-search_document.created_at", "-search_document.consultation_id"]
    matches = queryset.extra(
        select=select,
        select_params=[folded],
        tables=["search_document"],
        where=where,
        params=params,
        order_by=order,
    )
    rows = matches.values_list("pk", "search_rank", "created_microseconds")
    return list(rows[: MAX_RANKED + 1])


def _vector(internal: bool) -> str:
    if internal:
        return "search_document.full_vector"
    return "search_document.public_vector"


def _sqlite(queryset: QuerySet, folded: str, internal: bool) -> QuerySet:
    # Stems contain only letters and digits, so quoting each one is safe and
    # keeps FTS5 from reading words such as "or" as operators.
    terms = " ".join(f'"{term}"' for term in dict.fromkeys(stems(folded)))
    expression = terms if internal else f"{{public_text}} : ({terms})"
    return queryset.extra(
        # bm25() is lower for better matches.
        select={"search_rank": "-bm25(search_fts)"},
        tables=["search_fts"],
        where=[f"search_fts.rowid = {_CONSULTATION_ID}", "search_fts MATCH %s"],
        params=[expression],
    )
