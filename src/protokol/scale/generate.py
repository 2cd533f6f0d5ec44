"""`protokol generate N`: many realistic consultations for load and scale tests.

Each consultation copies a real appeal of the profile (scale/profile.py) with
a new citizen, number and date. A batch of consultations is written in one
transaction with bulk inserts: consultations, messages, transitions, one
journal entry per consultation through journal.record_many, and their search
documents.
"""

import json
import math
import random
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import structlog
from django.contrib.auth.hashers import make_password
from django.db import connection, transaction
from django.utils import timezone
from tqdm import tqdm

from protokol.accounts.models import Department, Role, User
from protokol.catalog.models import Service
from protokol.consultations.models import (
    Channel,
    Consultation,
    Message,
    NumberSequence,
    Transition,
    Visibility,
    search_key,
)
from protokol.consultations.services import NUMBER_PREFIX, summary
from protokol.imports.services import import_appeals, short_code
from protokol.journal import services as journal
from protokol.journal.models import JournalAction
from protokol.scale.profile import CITIZEN_PLACEHOLDER, AppealTemplate, learn_profile
from protokol.search.indexing import index_consultations

log = structlog.get_logger(__name__)

WEEK = timedelta(days=7)
# Each generated citizen opens this many consultations on average.
CONSULTATIONS_PER_CITIZEN = 3


@dataclass(frozen=True)
class GenerateReport:
    """Counts and wall time of one run."""

    consultations: int
    citizens: int
    messages: int
    transitions: int
    journal_entries: int
    seconds: float


@dataclass(frozen=True)
class _Catalog:
    departments: dict[str, int]
    services: dict[str, int]


def generate(
    count: int,
    *,
    seed: int | None = None,
    batch_size: int = 1000,
    span_days: int = 730,
    source: Path | None = None,
    progress: bool = False,
) -> GenerateReport:
    """Create `count` consultations resampled from the real appeals of `source`.

    Dates fall within the last `span_days` days. When the services of the
    appeals are missing, the appeals of `source` are imported first, which
    creates them.
    """
    if count < 1:
        raise ValueError("count must be at least 1")
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    started = time.perf_counter()
    rng = random.Random(seed)
    profile = learn_profile(source)
    catalog = _catalog(profile.templates, source)
    run = uuid.uuid4().hex[:8]
    log.info("generate_started", count=count, run=run, templates=len(profile.templates))

    citizens = _create_citizens(run, math.ceil(count / CONSULTATIONS_PER_CITIZEN))
    totals = Counter()
    bar = tqdm(
        total=count,
        unit="consultation",
        desc="Generating",
        file=sys.stderr,
        disable=None if progress else True,
    )
    for start in range(0, count, batch_size):
        size = min(batch_size, count - start)
        picks = [rng.choice(profile.templates) for _ in range(size)]
        with transaction.atomic():
            totals.update(_write_batch(picks, rng, citizens, catalog, span_days, run))
        bar.update(size)
    bar.close()

    report = GenerateReport(
        consultations=count,
        citizens=len(citizens),
        messages=totals["messages"],
        transitions=totals["transitions"],
        journal_entries=count,
        seconds=time.perf_counter() - started,
    )
    log.info("generate_finished", run=run, **report.__dict__)
    return report


def _catalog(templates: tuple[AppealTemplate, ...], source: Path | None) -> _Catalog:
    codes = {short_code(t.service_name): t.service_name for t in templates}
    services = dict(Service.objects.filter(code__in=codes).values_list("code", "pk"))
    if len(services) < len(codes):
        import_appeals(source)
        services = dict(
            Service.objects.filter(code__in=codes).values_list("code", "pk")
        )
    names = {t.department_name for t in templates}
    departments = dict(
        Department.objects.filter(name__in=names).values_list("name", "pk")
    )
    return _Catalog(
        departments=departments,
        services={name: services[code] for code, name in codes.items()},
    )


def _create_citizens(run: str, count: int) -> list[User]:
    # One unusable password for all: placeholders never sign in, and hashing
    # a random one per account would dominate the run.
    password = make_password(None)
    users = [
        User(
            username=f"gen-{run}-{index:07d}",
            role=Role.CITIZEN,
            is_placeholder=True,
            password=password,
        )
        for index in range(count)
    ]
    with transaction.atomic():
        return User.objects.bulk_create(users, batch_size=2000)


def _shifted_start(template: AppealTemplate, rng: random.Random, span_days: int):
    """Return the template's opening moved by whole weeks into the span."""
    now = timezone.now()
    latest = math.floor((now - template.created_at - template.last_offset) / WEEK)
    earliest = math.ceil((now - timedelta(days=span_days) - template.created_at) / WEEK)
    weeks = rng.randint(earliest, latest) if earliest <= latest else latest
    return template.created_at + weeks * WEEK


def _reserve_numbers(years: Counter) -> dict[int, int]:
    """Reserve consecutive numbers per year; return the first of each year."""
    first = {}
    for year, needed in sorted(years.items()):
        sequence, _ = NumberSequence.objects.select_for_update().get_or_create(
            year=year
        )
        first[year] = sequence.last + 1
        sequence.last += needed
        sequence.save(update_fields=["last"])
    return first


def _write_batch(picks, rng, citizens, catalog: _Catalog, span_days, run) -> Counter:
    starts = [_shifted_start(template, rng, span_days) for template in picks]
    next_number = _reserve_numbers(Counter(start.year for start in starts))
    owners = [rng.choice(citizens) for _ in picks]

    rows = []
    for template, start, citizen in zip(picks, starts, owners, strict=True):
        number = f"{NUMBER_PREFIX}-{start.year}-{next_number[start.year]:06d}"
        next_number[start.year] += 1
        rows.append(_consultation(template, start, citizen, number, catalog))
    consultations = Consultation.objects.bulk_create(rows)

    messages = []
    transitions = []
    for template, start, row in zip(picks, starts, consultations, strict=True):
        messages += _messages(template, start, row)
        transitions += _transitions(template, start, row)
    _insert_rows(Message, MESSAGE_COLUMNS, messages)
    _insert_rows(Transition, TRANSITION_COLUMNS, transitions)

    journal.record_many(
        {
            "action": JournalAction.CONSULTATION_CREATE,
            "actor": None,
            "object_type": "consultation",
            "object_id": row.pk,
            "object_label": row.number,
            "consultation_id": row.pk,
            "after": {
                **summary(row),
                "generated": run,
                "at": row.created_at.isoformat(),
                "citizen_id": row.citizen_id,
                "messages": len(template.messages),
                "transitions": len(template.transitions),
            },
        }
        for template, row in zip(picks, consultations, strict=True)
    )
    index_consultations([row.pk for row in consultations])
    return Counter(messages=len(messages), transitions=len(transitions))


def _insert_rows(model, columns: tuple[str, ...], rows: list[tuple]) -> None:
    """Insert rows of plain values with one executemany.

    bulk_create prepares every value through its field, which took most of a
    run's time for the tens of thousands of messages and transitions.
    """
    if not rows:
        return
    adapt = connection.ops.adapt_datetimefield_value
    prepared = [
        [
            adapt(value)
            if isinstance(value, datetime)
            else json.dumps(value, ensure_ascii=False)
            if isinstance(value, dict)
            else value
            for value in row
        ]
        for row in rows
    ]
    quote = connection.ops.quote_name
    names = ", ".join(quote(column) for column in columns)
    marks = ", ".join(["%s"] * len(columns))
    with connection.cursor() as cursor:
        cursor.executemany(
            f"INSERT INTO {quote(model._meta.db_table)} ({names}) VALUES ({marks})",
            prepared,
        )


def _consultation(template, start, citizen, number, catalog) -> Consultation:
    return Consultation(
        number=number,
        citizen=citizen,
        service_id=catalog.services[template.service_name],
        department_id=catalog.departments[template.department_name],
        channel=Channel.PORTAL,
        subject=template.subject,
        description=template.description,
        status=template.status,
        created_at=start,
        updated_at=start + template.last_offset,
        closed_at=None
        if template.closed_offset is None
        else start + template.closed_offset,
        deadline=start + template.deadline_offset,
        district=template.district,
        # bulk_create skips Consultation.save, which fills this column.
        search_text=search_key(f"{number} {template.subject}"),
    )


MESSAGE_COLUMNS = (
    "consultation_id",
    "author_id",
    "author_name",
    "author_role",
    "text",
    "visibility",
    "created_at",
)


def _messages(template, start, consultation) -> list[tuple]:
    citizen = consultation.citizen
    return [
        (
            consultation.pk,
            citizen.pk if draft.from_citizen else None,
            citizen.username if draft.from_citizen else draft.organisation,
            Role.CITIZEN.value if draft.from_citizen else Role.OPERATOR.value,
            draft.text,
            Visibility.PUBLIC.value,
            start + (draft.created_at - template.created_at),
        )
        for draft in template.messages
    ]


TRANSITION_COLUMNS = (
    "consultation_id",
    "action",
    "from_status",
    "to_status",
    "actor_id",
    "actor_name",
    "actor_role",
    "comment",
    "details",
    "created_at",
)


def _transitions(template, start, consultation) -> list[tuple]:
    citizen = consultation.citizen
    return [
        (
            consultation.pk,
            draft.action,
            draft.from_status,
            draft.to_status,
            citizen.pk if draft.by_citizen else None,
            draft.actor_name.replace(CITIZEN_PLACEHOLDER, citizen.username),
            draft.actor_role,
            draft.comment,
            draft.details,
            start + (draft.created_at - template.created_at),
        )
        for draft in template.transitions
    ]
