"""`protokol generate N`: many realistic consultations for load and scale tests.

Each consultation copies a real appeal of the profile (scale/profile.py) with
a new citizen, number and date. A batch of consultations is written in one
transaction with bulk inserts: consultations, messages, transitions, one
journal entry per consultation through journal.record_many, and their search
documents. On PostgreSQL the rows go in by COPY, and a search document's
vectors are those of its template, computed once per run, joined to the
vector of its number.
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
from protokol.analytics.facts import refresh_facts
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
from protokol.search.indexing import (
    MAX_COLUMN_CHARS,
    index_consultations,
    stored_form,
)

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

    NOTE: rows are written in random date order, while a live installation
    writes them as they are created, so a date range of generated rows is
    spread over the whole table. bench/scale_bench.py lists the CLUSTER
    commands that order them by creation time. Remove when the dates are
    drawn and sorted before the rows are written.
    """
    if count < 1:
        raise ValueError("count must be at least 1")
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    started = time.perf_counter()
    rng = random.Random(seed)
    profile = learn_profile(source)
    catalog = _catalog(profile.templates, source, progress=progress)
    run = uuid.uuid4().hex[:8]
    log.info("generate_started", count=count, run=run, templates=len(profile.templates))

    search = _search_templates(profile.templates)
    totals = Counter()
    citizens: list[User] = []
    bar = tqdm(
        total=count,
        unit="consultation",
        desc="Generating",
        file=sys.stderr,
        disable=None if progress else True,
    )
    for start in range(0, count, batch_size):
        size = min(batch_size, count - start)
        picks = [rng.randrange(len(profile.templates)) for _ in range(size)]
        with transaction.atomic():
            # Each batch creates its own citizens, so memory does not grow
            # with `count`. A batch too small for a new citizen reuses the
            # previous batch's.
            created = _create_citizens(run, start, start + size)
            citizens = created or citizens
            totals["citizens"] += len(created)
            totals.update(
                _write_batch(
                    profile.templates,
                    picks,
                    rng,
                    citizens,
                    catalog,
                    span_days,
                    run,
                    search,
                )
            )
        bar.update(size)
    bar.close()

    report = GenerateReport(
        consultations=count,
        citizens=totals["citizens"],
        messages=totals["messages"],
        transitions=totals["transitions"],
        journal_entries=count,
        seconds=time.perf_counter() - started,
    )
    log.info("generate_finished", run=run, **report.__dict__)
    return report


def _catalog(
    templates: tuple[AppealTemplate, ...], source: Path | None, *, progress: bool
) -> _Catalog:
    codes = {short_code(t.service_name): t.service_name for t in templates}
    services = dict(Service.objects.filter(code__in=codes).values_list("code", "pk"))
    if len(services) < len(codes):
        import_appeals(source, progress=progress)
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


def _create_citizens(run: str, start: int, end: int) -> list[User]:
    """Create the citizens of the batch of consultations `start` to `end`.

    They are those numbered from ceil(start / 3) up to ceil(end / 3), taking
    CONSULTATIONS_PER_CITIZEN as 3, so a run creates ceil(count / 3) in all.
    """
    first = math.ceil(start / CONSULTATIONS_PER_CITIZEN)
    last = math.ceil(end / CONSULTATIONS_PER_CITIZEN)
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
        for index in range(first, last)
    ]
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


def _write_batch(
    templates, picks, rng, citizens, catalog: _Catalog, span_days, run, search
) -> Counter:
    chosen = [templates[index] for index in picks]
    starts = [_shifted_start(template, rng, span_days) for template in chosen]
    next_number = _reserve_numbers(Counter(start.year for start in starts))
    owners = [rng.choice(citizens) for _ in picks]

    rows = []
    for template, start, citizen in zip(chosen, starts, owners, strict=True):
        number = f"{NUMBER_PREFIX}-{start.year}-{next_number[start.year]:06d}"
        next_number[start.year] += 1
        rows.append(_consultation(template, start, citizen, number, catalog))
    consultations = _insert_consultations(rows)

    messages = []
    transitions = []
    for template, start, row in zip(chosen, starts, consultations, strict=True):
        messages += _messages(template, start, row)
        transitions += _transitions(template, start, row)
    _insert_rows(Message, MESSAGE_COLUMNS, messages)
    _insert_rows(Transition, TRANSITION_COLUMNS, transitions)
    refresh_facts([row.pk for row in consultations])

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
        for template, row in zip(chosen, consultations, strict=True)
    )
    if search is None:
        index_consultations([row.pk for row in consultations])
    else:
        _insert_search_documents(consultations, picks, search)
    return Counter(messages=len(messages), transitions=len(transitions))


def _insert_consultations(rows: list[Consultation]) -> list[Consultation]:
    """Insert the consultations and set their primary keys."""
    if connection.vendor != "postgresql":
        return Consultation.objects.bulk_create(rows)
    table = Consultation._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, 'id')) "
            "FROM generate_series(1, %s)",
            [table, len(rows)],
        )
        for row, (pk,) in zip(rows, cursor.fetchall(), strict=True):
            row.pk = pk
    values = [
        tuple(getattr(row, name) for name in CONSULTATION_COLUMNS) for row in rows
    ]
    _insert_rows(Consultation, CONSULTATION_COLUMNS, values)
    return rows


def _insert_rows(model, columns: tuple[str, ...], rows: list[tuple]) -> None:
    """Insert rows of plain values: COPY on PostgreSQL, else one executemany.

    bulk_create prepares every value through its field, which took most of a
    run's time for the tens of thousands of messages and transitions.
    """
    if not rows:
        return
    postgresql = connection.vendor == "postgresql"
    adapt = connection.ops.adapt_datetimefield_value
    prepared = [
        [
            json.dumps(value, ensure_ascii=False)
            if isinstance(value, dict)
            else adapt(value)
            if isinstance(value, datetime) and not postgresql
            else value
            for value in row
        ]
        for row in rows
    ]
    quote = connection.ops.quote_name
    table = quote(model._meta.db_table)
    names = ", ".join(quote(column) for column in columns)
    with connection.cursor() as cursor:
        if postgresql:
            with cursor.cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
                for row in prepared:
                    copy.write_row(row)
            return
        marks = ", ".join(["%s"] * len(columns))
        cursor.executemany(f"INSERT INTO {table} ({names}) VALUES ({marks})", prepared)


@dataclass(frozen=True)
class _SearchTemplates:
    """Each template's search text after the number, folded as stored.

    Their vectors are in the temporary table generate_template_vector, by
    position in the profile.
    """

    texts: list[str]


def _template_text(template: AppealTemplate) -> str:
    """Return a template's search text after the number, as indexing stores it.

    indexing.build_documents joins the number, subject, description and the
    public messages by creation time; generated messages are all public.
    """
    messages = sorted(template.messages, key=lambda message: message.created_at)
    return stored_form(
        "\n".join([template.subject, template.description, *(m.text for m in messages)])
    )


def _search_templates(templates) -> _SearchTemplates | None:
    """Store the templates' vectors in temporary tables on PostgreSQL, else None.

    to_tsvector(number + "\n" + text) equals to_tsvector(number) joined by ||
    with to_tsvector(text), so each copy needs only its number's vector.
    """
    if connection.vendor != "postgresql":
        return None
    texts = [_template_text(template) for template in templates]
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS pg_temp.generate_template_vector")
        cursor.execute(
            "CREATE TEMPORARY TABLE generate_template_vector (position integer "
            "PRIMARY KEY, text text NOT NULL, vector tsvector)"
        )
        with cursor.cursor.copy(
            "COPY generate_template_vector (position, text) FROM STDIN"
        ) as copy:
            for position, text in enumerate(texts):
                copy.write_row((position, text))
        cursor.execute(
            "UPDATE generate_template_vector "
            "SET vector = to_tsvector('russian'::regconfig, text)"
        )
        cursor.execute("DROP TABLE IF EXISTS pg_temp.generate_document")
        cursor.execute(
            "CREATE TEMPORARY TABLE generate_document (consultation_id bigint, "
            "public_text text, number text, position integer) "
            "ON COMMIT DELETE ROWS"
        )
    return _SearchTemplates(texts=texts)


def _insert_search_documents(consultations, picks, search: _SearchTemplates) -> None:
    """Insert the search documents of new consultations with their vectors.

    Generated messages are all public, so the internal text is empty and both
    vectors are equal. The insert trigger of search_document keeps them.
    """
    with connection.cursor() as cursor:
        with cursor.cursor.copy(
            "COPY generate_document (consultation_id, public_text, number, position) "
            "FROM STDIN"
        ) as copy:
            for row, position in zip(consultations, picks, strict=True):
                number = stored_form(row.number)
                text = f"{number}\n{search.texts[position]}"[:MAX_COLUMN_CHARS]
                copy.write_row((row.pk, text, number, position))
        cursor.execute(
            "INSERT INTO search_document (consultation_id, public_text, "
            "internal_text, updated_at, public_vector, full_vector) "
            "SELECT consultation_id, public_text, '', %s, vector, vector FROM ("
            " SELECT d.consultation_id, d.public_text,"
            " to_tsvector('russian'::regconfig, d.number) || t.vector AS vector"
            " FROM generate_document d"
            " JOIN generate_template_vector t USING (position)) AS rows",
            [timezone.now()],
        )
        cursor.execute("DELETE FROM generate_document")


def _consultation(template, start, citizen, number, catalog) -> Consultation:
    return Consultation(
        number=number,
        citizen=citizen,
        service_id=catalog.services[template.service_name],
        department_id=catalog.departments[template.department_name],
        channel=Channel.PORTAL,
        subject=template.subject,
        description=template.description,
        # A plain str, which the journal's canonical form encodes fastest.
        status=str(template.status),
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


CONSULTATION_COLUMNS = (
    "id",
    "number",
    "citizen_id",
    "service_id",
    "department_id",
    "assignee_id",
    "channel",
    "subject",
    "description",
    "status",
    "created_at",
    "updated_at",
    "closed_at",
    "deadline",
    "district",
    "external_ref",
    "search_text",
    "version",
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
