"""Full-text search over the consultations a user may see, ranked by relevance."""

import re

from django.db import connection
from django.db.models import F, FloatField, QuerySet
from django.db.models.expressions import RawSQL

from protokol.consultations import permissions
from protokol.search.text import fold, stems, words

# A whole consultation number such as КП-2026-000123 is looked up exactly.
NUMBER = re.compile(r"кп-\d{4}-\d+")


def reads_internal(user) -> bool:
    """Return whether `user`'s searches include internal notes.

    The caller has already limited the consultations to consultation_scope,
    and within it staff of the department may read internal notes
    (permissions.can_view_internal) while citizens may not.
    """
    return user.role in permissions.DEPARTMENT_ROLES


def search(queryset: QuerySet, user, query: str) -> QuerySet:
    """Filter `queryset` to consultations matching `query`, best match first.

    Each row gets `search_rank`: ts_rank on PostgreSQL, minus bm25 on SQLite;
    higher is better on both. A query without words matches nothing.
    """
    folded = " ".join(fold(query).split())
    if NUMBER.fullmatch(folded):
        return queryset.filter(number=folded.upper())
    if not words(folded):
        return queryset.none()

    internal = reads_internal(user)
    if connection.vendor == "postgresql":
        matching, rank = _postgresql(folded, internal)
    else:
        matching, rank = _sqlite(folded, internal)
    return (
        queryset.filter(pk__in=matching)
        .annotate(search_rank=rank)
        .order_by(F("search_rank").desc(nulls_last=True), "-created_at", "-id")
    )


def _outer_id() -> str:
    table = connection.ops.quote_name("consultations_consultation")
    return f"{table}.{connection.ops.quote_name('id')}"


def _postgresql(folded: str, internal: bool) -> tuple[RawSQL, RawSQL]:
    vector = "full_vector" if internal else "public_vector"
    tsquery = "plainto_tsquery('russian', %s)"
    matching = RawSQL(
        f"SELECT consultation_id FROM search_document WHERE {vector} @@ {tsquery}",
        [folded],
    )
    rank = RawSQL(
        f"SELECT ts_rank({vector}, {tsquery}) FROM search_document "
        f"WHERE consultation_id = {_outer_id()}",
        [folded],
        output_field=FloatField(),
    )
    return matching, rank


def _sqlite(folded: str, internal: bool) -> tuple[RawSQL, RawSQL]:
    # Stems contain only letters and digits, so quoting each one is safe and
    # keeps FTS5 from reading words such as "or" as operators.
    terms = " ".join(f'"{term}"' for term in dict.fromkeys(stems(folded)))
    expression = terms if internal else f"{{public_text}} : ({terms})"
    matching = RawSQL(
        "SELECT rowid FROM search_fts WHERE search_fts MATCH %s", [expression]
    )
    rank = RawSQL(
        "SELECT -bm25(search_fts) FROM search_fts "
        f"WHERE search_fts MATCH %s AND rowid = {_outer_id()}",
        [expression],
        output_field=FloatField(),
    )
    return matching, rank
