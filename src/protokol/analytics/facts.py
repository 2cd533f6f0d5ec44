"""Recompute the stored facts of consultations, set-based, one INSERT ... SELECT
per batch.

Every write that changes a fact calls refresh_facts in its transaction:
transitions (consultations.services), imported and generated consultations
and disposal. A consultation opened through the service layer gets its row
from insert_new_facts, and a public staff message calls record_reply, which
only sets a missing first reply. Deleting a consultation deletes its facts
row by CASCADE. The three functions mark the creation days of the
consultations they change stale for the daily aggregates
(protokol.analytics.aggregates).
"""

import sys
from collections.abc import Iterable
from datetime import datetime

import structlog
from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.db.models import (
    Case,
    Count,
    DateTimeField,
    Exists,
    F,
    IntegerField,
    OuterRef,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Coalesce
from tqdm import tqdm

from protokol.accounts.models import STAFF_ROLES
from protokol.analytics.aggregates import local_day, mark_stale
from protokol.analytics.models import ConsultationFacts
from protokol.consultations.models import (
    Consultation,
    Message,
    Status,
    Transition,
    Visibility,
)

log = structlog.get_logger(__name__)

# The portal status a citizen sets when the answer solved the problem. The
# importer keeps it in the transition's details["portal_status"]
# (protokol.imports.timeline, _Replay._status).
SATISFIED_STATUS = "Завершено: Пользователь удовлетворен решением проблемы"

# Consultations per INSERT ... SELECT. 500 ids stay below the 999 bound
# parameters that SQLite before 3.32 allows in one statement.
BATCH_SIZE = 500
# Consultations per batch of a rebuild, which selects by a range of ids.
# PostgreSQL runs the Exists filters of a large batch as hashed subplans that
# read the transitions once per batch, so fewer, larger batches finish sooner.
RANGE_BATCH_SIZE = 50_000


def _transitions(action: str | None = None, **lookups) -> QuerySet:
    queryset = Transition.objects.filter(consultation=OuterRef("pk"), **lookups)
    return queryset.filter(action=action) if action else queryset


def fact_expressions() -> dict:
    """Return the expression of each ConsultationFacts column over a consultation."""
    first_reply = (
        Message.objects.filter(
            consultation=OuterRef("pk"),
            visibility=Visibility.PUBLIC,
            author_role__in=list(STAFF_ROLES),
        )
        .order_by("created_at", "id")
        .values("created_at")[:1]
    )
    signed = _transitions("sign").order_by("created_at", "id").values("created_at")[:1]
    returns = (
        _transitions("return")
        .order_by()
        .values("consultation")
        .annotate(n=Count("id"))
        .values("n")
    )
    previous_request = _previous_request(
        OuterRef("citizen_id"), OuterRef("service_id"), OuterRef("created_at")
    )
    return {
        "created_at": F("created_at"),
        "first_reply_at": Subquery(first_reply, output_field=DateTimeField()),
        "end_at": Coalesce(
            Subquery(signed, output_field=DateTimeField()),
            Case(
                When(status=Status.ARCHIVED, then=F("closed_at")),
                output_field=DateTimeField(),
            ),
        ),
        "returns": Coalesce(Subquery(returns, output_field=IntegerField()), Value(0)),
        "disputed": Exists(_transitions("dispute")),
        "dispute_concluded": Exists(_transitions("conclude")),
        "dispute_reopened": Exists(_transitions("reopen")),
        "satisfied": Exists(_transitions(details__portal_status=SATISFIED_STATUS)),
        "previous_request_at": Subquery(previous_request, output_field=DateTimeField()),
    }


def _previous_request(citizen_id, service_id, created_at) -> QuerySet:
    """Return the creation time of the latest earlier request for the service."""
    return (
        Consultation.objects.filter(
            citizen_id=citizen_id, service_id=service_id, created_at__lt=created_at
        )
        .order_by("-created_at")
        .values("created_at")[:1]
    )


def insert_new_facts(consultation: Consultation) -> None:
    """Insert the facts of a consultation created in the caller's transaction.

    It has no messages and no transitions yet, so every fact but its previous
    request keeps the column default. One INSERT with that subquery replaces
    refresh_facts' delete and recompute, which cost a create request about
    4 ms of CPU on the benchmark machine (docs/benchmarks.md).
    """
    mark_stale(days=[local_day(consultation.created_at)])
    previous = _previous_request(
        consultation.citizen_id, consultation.service_id, consultation.created_at
    )
    ConsultationFacts.objects.create(
        consultation=consultation,
        created_at=consultation.created_at,
        previous_request_at=Subquery(previous),
    )


def _insert_facts(consultations: QuerySet, using: str) -> None:
    """Insert the facts of `consultations` in one INSERT ... SELECT."""
    expressions = fact_expressions()
    aliases = {f"fact_{name}": expression for name, expression in expressions.items()}
    source = (
        consultations.order_by()
        .annotate(fact_consultation_id=F("pk"), **aliases)
        .values("fact_consultation_id", *aliases)
    )
    sql, params = source.query.get_compiler(using=using).as_sql()

    connection = connections[using]
    quote = connection.ops.quote_name
    columns = ["consultation_id", *expressions]
    selected = ["fact_consultation_id", *aliases]
    statement = (
        f"INSERT INTO {quote(ConsultationFacts._meta.db_table)} "
        f"({', '.join(quote(c) for c in columns)}) "
        f"SELECT {', '.join(quote(c) for c in selected)} FROM ({sql}) facts_source"
    )
    with connection.cursor() as cursor:
        cursor.execute(statement, params)


def with_later_requests(ids: set[int], using: str = DEFAULT_DB_ALIAS) -> set[int]:
    """Add the later consultations of the same citizen and service to `ids`.

    Their previous request time may be one of `ids`, or changes when one of
    `ids` is inserted with an earlier date or deleted.
    """
    keys = list(
        Consultation.objects.using(using)
        .filter(pk__in=ids)
        .values_list("citizen_id", "service_id", "created_at")
    )
    earliest: dict = {}
    for citizen_id, service_id, created_at in keys:
        key = (citizen_id, service_id)
        earliest[key] = min(created_at, earliest.get(key, created_at))
    later = set(ids)
    citizens = sorted({citizen_id for citizen_id, _ in earliest})
    for start in range(0, len(citizens), BATCH_SIZE):
        rows = (
            Consultation.objects.using(using)
            .filter(citizen_id__in=citizens[start : start + BATCH_SIZE])
            .values_list("pk", "citizen_id", "service_id", "created_at")
        )
        for pk, citizen_id, service_id, created_at in rows:
            first = earliest.get((citizen_id, service_id))
            if first is not None and created_at > first:
                later.add(pk)
    return later


def refresh_facts(
    ids: Iterable[int],
    *,
    later_requests: bool = True,
    using: str = DEFAULT_DB_ALIAS,
) -> int:
    """Recompute the facts of the consultations `ids` and of their later requests.

    Call it inside the write's transaction, after the write. A write that
    changes neither the creation time, the citizen nor the service of a
    consultation passes `later_requests=False`, because the later requests
    keep their previous request then. Returns the number of consultations
    recomputed.
    """
    ids = {int(pk) for pk in ids}
    if later_requests:
        ids = with_later_requests(ids, using)
    ordered = sorted(ids)
    # No savepoint, because a failure here rolls back the caller's whole write
    # anyway, and a savepoint costs two round trips.
    with transaction.atomic(using=using, savepoint=False):
        mark_stale(ordered, using=using)
        for start in range(0, len(ordered), BATCH_SIZE):
            batch = ordered[start : start + BATCH_SIZE]
            ConsultationFacts.objects.using(using).filter(
                consultation_id__in=batch
            ).delete()
            _insert_facts(Consultation.objects.using(using).filter(pk__in=batch), using)
    return len(ordered)


def record_reply(consultation_id: int, at: datetime) -> None:
    """Store `at` as the first reply of a consultation that has none yet.

    Call it in the transaction that adds a public staff message. A message
    added now is never earlier than a stored first reply, so one UPDATE by
    primary key replaces the recompute. A consultation without a facts row
    keeps none, as after any write outside the service layer.
    """
    updated = ConsultationFacts.objects.filter(
        consultation_id=consultation_id, first_reply_at__isnull=True
    ).update(first_reply_at=at)
    if updated:
        mark_stale([consultation_id])


def refresh_range(
    *,
    created_from: datetime | None = None,
    created_before: datetime | None = None,
    using: str = DEFAULT_DB_ALIAS,
    progress: bool = False,
) -> int:
    """Rebuild the facts of the consultations created in [created_from,
    created_before), or of all, in batches of consecutive ids.

    Each batch commits on its own, so an interrupted rebuild keeps the
    batches it finished and can run again. Returns the number of
    consultations rebuilt.
    """
    consultations = Consultation.objects.using(using).order_by()
    if created_from is not None:
        consultations = consultations.filter(created_at__gte=created_from)
    if created_before is not None:
        consultations = consultations.filter(created_at__lt=created_before)
    total = consultations.count()
    if not total:
        return 0
    bounds = consultations.values_list("pk", flat=True)
    low = bounds.order_by("pk").first()
    high = bounds.order_by("-pk").first()
    log.info("analytics_refresh_started", consultations=total, first_id=low)

    bar = tqdm(
        total=total,
        unit="consultation",
        desc="Refreshing analytics facts",
        file=sys.stderr,
        disable=None if progress else True,
    )
    done = 0
    for start in range(low, high + 1, RANGE_BATCH_SIZE):
        batch = consultations.filter(pk__gte=start, pk__lt=start + RANGE_BATCH_SIZE)
        with transaction.atomic(using=using):
            ConsultationFacts.objects.using(using).filter(
                consultation__in=batch.values("pk")
            ).delete()
            _insert_facts(batch, using)
        count = batch.count()
        done += count
        bar.update(count)
    bar.close()
    log.info("analytics_refresh_finished", consultations=done)
    return done
