"""Full-text search over the consultations a user may see, ranked by relevance."""

import re

from django.db import connection
from django.db.models import QuerySet
from django.utils.translation import gettext

from protokol.consultations import permissions
from protokol.errors import ValidationFailed
from protokol.search.text import fold, stems, words

# Longer queries are rejected: no real search needs more, and each word costs
# an index lookup.
MAX_QUERY_CHARS = 200
# A whole consultation number such as КП-2026-000123 is looked up exactly.
NUMBER = re.compile(r"кп-\d{4}-\d+")
# Only the newest matches are ranked, one more than this so that lists can
# tell there are more. Ranking every match of a common word read every
# matching document: seconds at a million consultations.
# NOTE: an older, better match of a common word is not listed; remove when
# the ranking reads an index (such as RUM) instead of the documents.
MAX_RANKED = 1000


def reads_internal(user) -> bool:
    """Return whether `user`'s searches include internal notes.

    The caller has already limited the consultations to consultation_scope,
    and within it staff of the department may read internal notes
    (permissions.can_view_internal) while citizens may not.
    """
    return user.role in permissions.DEPARTMENT_ROLES


def search(queryset: QuerySet, user, query: str) -> QuerySet:
    """Filter `queryset` to consultations matching `query`, best match first.

    The rows are the newest MAX_RANKED + 1 matches. Each gets `search_rank`:
    ts_rank on PostgreSQL, minus bm25 on SQLite; higher is better on both. A
    query without words matches nothing.
    """
    if len(query) > MAX_QUERY_CHARS:
        raise ValidationFailed(
            gettext("q must be at most %(max)d characters long; shorten the query.")
            % {"max": MAX_QUERY_CHARS},
            field="q",
        )
    folded = " ".join(fold(query).split())
    if NUMBER.fullmatch(folded):
        return queryset.filter(number=folded.upper())
    if not words(folded):
        return queryset.none()

    internal = reads_internal(user)
    match = _postgresql if connection.vendor == "postgresql" else _sqlite
    # A list of ids rather than a subquery: the raw join condition of extra()
    # would name the outer query's table inside a subquery.
    newest = list(
        match(queryset, folded, internal)
        .order_by("-created_at", "-id")
        .values_list("pk", flat=True)[: MAX_RANKED + 1]
    )
    ranked = match(queryset.filter(pk__in=newest), folded, internal)
    return ranked.order_by("-search_rank", "-created_at", "-id")


# The index table is joined to the consultations with QuerySet.extra(): a
# correlated subquery per row made FTS5 run the whole MATCH once per match.
_CONSULTATION_ID = '"consultations_consultation"."id"'


def _postgresql(queryset: QuerySet, folded: str, internal: bool) -> QuerySet:
    vector = (
        "search_document.full_vector" if internal else "search_document.public_vector"
    )
    tsquery = "plainto_tsquery('russian', %s)"
    return queryset.extra(
        select={"search_rank": f"ts_rank({vector}, {tsquery})"},
        select_params=[folded],
        tables=["search_document"],
        where=[
            f"search_document.consultation_id = {_CONSULTATION_ID}",
            f"{vector} @@ {tsquery}",
        ],
        params=[folded],
    )


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
