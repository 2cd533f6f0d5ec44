"""Import of citizen appeals from the St Petersburg portal «Наш Санкт-Петербург».

The input is JSON Lines (plain or gzip), one appeal a line, in the format of
protokol.imports.schema. The packaged sample contains 2,000 appeals of 2020-21
taken from the public repository Timmy-Max/Appeals-to-Housing-and-Communal-Services,
with personal data removed.

Mapping:

- Organisations that coordinate, control or answer become departments with
  the code "spb-" + the first 10 hex digits of SHA-1 of the name. Performers
  (management companies, contractors) do not.
- Each `category.category` becomes a service "spb-" + SHA-1 prefix, answered by
  the department that most often handles that category in the file, with the
  default deadline of 30 days.
- Each appeal becomes a consultation on the "portal" channel with
  `external_ref = source_id`, so a second run finds it and adds nothing. Its
  department is the coordinator of the last forward, else the sidebar's
  executor or coordinator, else the first answering organisation, else the
  triage department «Сортировка обращений».
- The citizen is a placeholder account named after `source_id`. In demo mode
  about one appeal in 50 (SHA-256 of `source_id` divisible by 50) belongs to
  the demo account "citizen" instead, so it has a real history.
- Petitions and answers become public messages with their original times.
  Attached files are not in the extract: messages name them instead.
- Status events, forwards, deadline and category changes and rare portal
  notes become transitions, replayed by protokol.imports.timeline. Portal
  statuses map onto the lifecycle: Модерация to initiated, Рассмотрение and
  Промежуточный ответ to drafting, Получен ответ to signed, Завершено: … to
  archived. A follow-up petition after an answer disputes it, and the
  moderator's Рассмотрение reopens it to drafting. So a follow-up still on
  moderation ends disputed, and every other appeal ends in the status its
  final portal status maps to.

Every appeal is written in its own transaction with a CONSULTATION_IMPORT
journal entry and one journal entry per transition, all by the system actor,
with the portal's time of the event in `after["at"]`. An invalid line is
reported with its number and nothing of it is written.
"""

import gzip
import hashlib
import sys
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import structlog
from django.conf import settings
from django.db import IntegrityError, transaction
from tqdm import tqdm

from protokol.accounts.models import Department, Role, User
from protokol.accounts.services import create_user, ensure_department
from protokol.analytics.facts import refresh_facts
from protokol.catalog.models import Service
from protokol.catalog.services import ensure_service
from protokol.consultations.models import (
    Channel,
    Consultation,
    Message,
    Status,
    Transition,
    Visibility,
)
from protokol.consultations.services import next_number, summary
from protokol.imports.schema import Appeal, InvalidAppeal, parse_appeal
from protokol.imports.timeline import (
    Timeline,
    build_timeline,
    current_coordinator,
    organisation_names,
)
from protokol.journal import services as journal
from protokol.journal.models import JournalAction
from protokol.search.indexing import index_consultations

log = structlog.get_logger(__name__)

SAMPLE_FILE_NAME = "spb_appeals_sample.jsonl.gz"
TRIAGE_DEPARTMENT = "Сортировка обращений"
DEMO_CITIZEN = "citizen"
# One appeal in DEMO_SHARE goes to the demo citizen: 38 of the 2,000 sampled.
DEMO_SHARE = 50
DEFAULT_DEADLINE_DAYS = 30
PORTAL_TIMEZONE = ZoneInfo("Europe/Moscow")
GZIP_MAGIC = b"\x1f\x8b"


@dataclass(frozen=True)
class LineProblem:
    """A line that was skipped, with the reason in words."""

    line: int
    reason: str


@dataclass(frozen=True)
class ImportReport:
    """Counts of one import run; `problems` lists the skipped lines."""

    read: int
    imported: int
    already_present: int
    skipped: int
    departments_created: int
    services_created: int
    users_created: int
    messages_created: int
    transitions_created: int
    problems: tuple[LineProblem, ...]


class _Rejected(Exception):
    """A valid line that cannot be imported; the message gives the reason."""


@dataclass
class _Survey:
    """Findings of the first pass over a file: lines, organisations, categories."""

    lines: int = 0
    organisations: set[str] = field(default_factory=set)
    departments_by_category: dict[str, Counter] = field(
        default_factory=lambda: defaultdict(Counter)
    )


@dataclass(frozen=True)
class _Catalog:
    departments: dict[str, Department]
    services: dict[str, Service]


def default_file() -> Path:
    """Return the path of the packaged sample of 2,000 appeals."""
    return Path(settings.BASE_DIR) / "data" / SAMPLE_FILE_NAME


def short_code(name: str) -> str:
    """Return the stable code of a department or service: "spb-" + 10 hex digits."""
    return "spb-" + hashlib.sha1(name.encode()).hexdigest()[:10]


def belongs_to_demo_citizen(source_id: str) -> bool:
    """Return True when the appeal goes to the demo citizen, if one exists."""
    digest = hashlib.sha256(source_id.encode()).digest()
    return int.from_bytes(digest, "big") % DEMO_SHARE == 0


def read_lines(path: Path) -> Iterator[tuple[int, bytes]]:
    """Yield (line number, bytes) of each non-blank line of a plain or gzip file."""
    with path.open("rb") as raw:
        compressed = raw.read(2) == GZIP_MAGIC
    opener = gzip.open if compressed else open
    with opener(path, "rb") as lines:
        for number, line in enumerate(lines, start=1):
            if line.strip():
                yield number, line


def import_appeals(path: Path | None = None, *, progress: bool = False) -> ImportReport:
    """Import every appeal of `path` (default: the packaged sample) not yet present.

    Raises OSError or EOFError when the file cannot be read.
    """
    path = Path(path) if path is not None else default_file()
    survey = _survey(path)
    log.info("appeals_import_started", file=path.name, lines=survey.lines)

    with transaction.atomic():
        catalog, departments_created, services_created = _ensure_catalog(survey)
    demo_citizen = _demo_citizen()

    counts = Counter()
    problems: list[LineProblem] = []
    lines = tqdm(
        read_lines(path),
        total=survey.lines,
        unit="appeal",
        desc="Importing appeals",
        file=sys.stderr,
        disable=None if progress else True,
    )
    for number, line in lines:
        counts["read"] += 1
        try:
            appeal = parse_appeal(line)
        except InvalidAppeal as error:
            problems.append(LineProblem(number, str(error)))
            log.warning("appeal_line_invalid", line=number, reason=str(error))
            continue
        if Consultation.objects.filter(external_ref=appeal.source_id).exists():
            counts["already_present"] += 1
            continue
        try:
            with transaction.atomic():
                counts.update(_import_appeal(appeal, catalog, demo_citizen))
        except (IntegrityError, _Rejected) as error:
            problems.append(LineProblem(number, str(error)))
            log.error(
                "appeal_import_failed",
                line=number,
                source_id=appeal.source_id,
                error=type(error).__name__,
            )
            continue
        counts["imported"] += 1
    lines.close()

    report = ImportReport(
        read=counts["read"],
        imported=counts["imported"],
        already_present=counts["already_present"],
        skipped=len(problems),
        departments_created=departments_created,
        services_created=services_created,
        users_created=counts["users"],
        messages_created=counts["messages"],
        transitions_created=counts["transitions"],
        problems=tuple(problems),
    )
    log.info(
        "appeals_import_finished",
        read=report.read,
        imported=report.imported,
        already_present=report.already_present,
        skipped=report.skipped,
        departments_created=departments_created,
        services_created=services_created,
        messages_created=report.messages_created,
        transitions_created=report.transitions_created,
    )
    return report


def _survey(path: Path) -> _Survey:
    survey = _Survey()
    for _, line in read_lines(path):
        survey.lines += 1
        try:
            appeal = parse_appeal(line)
        except InvalidAppeal:
            continue
        department = current_coordinator(appeal) or TRIAGE_DEPARTMENT
        survey.organisations |= organisation_names(appeal)
        survey.organisations.add(department)
        survey.departments_by_category[appeal.category.category][department] += 1
    return survey


def _ensure_catalog(survey: _Survey) -> tuple[_Catalog, int, int]:
    """Create the departments and services the file needs; return them and counts."""
    departments = {
        d.name: d for d in Department.objects.filter(name__in=survey.organisations)
    }
    departments_before = len(departments)
    for name in sorted(survey.organisations - departments.keys()):
        departments[name] = ensure_department(short_code(name), name)

    codes = {short_code(name): name for name in survey.departments_by_category}
    services = {codes[s.code]: s for s in Service.objects.filter(code__in=codes.keys())}
    services_before = len(services)
    for code, name in sorted(codes.items()):
        if name in services:
            continue
        # Ties go to the department met first in the file.
        department, _ = survey.departments_by_category[name].most_common(1)[0]
        services[name] = ensure_service(
            code,
            name=name,
            department=departments[department],
            deadline_days=DEFAULT_DEADLINE_DAYS,
        )

    catalog = _Catalog(departments=departments, services=services)
    return (
        catalog,
        len(departments) - departments_before,
        len(services) - services_before,
    )


def _demo_citizen() -> User | None:
    if not settings.DEMO:
        return None
    return User.objects.filter(
        username=DEMO_CITIZEN, role=Role.CITIZEN, is_placeholder=False
    ).first()


def _citizen_for(appeal: Appeal, demo_citizen: User | None) -> tuple[User, bool]:
    """Return the appeal's citizen and whether the account was created now."""
    if demo_citizen is not None and belongs_to_demo_citizen(appeal.source_id):
        return demo_citizen, False
    existing = User.objects.filter(username=appeal.source_id).first()
    if existing is None:
        user = create_user(
            appeal.source_id, role=Role.CITIZEN, password=None, placeholder=True
        )
        return user, True
    if not existing.is_placeholder:
        raise _Rejected(
            f"the account '{appeal.source_id}' exists and is not an import "
            "placeholder. Rename it to import this appeal"
        )
    return existing, False


def _import_appeal(
    appeal: Appeal, catalog: _Catalog, demo_citizen: User | None
) -> Counter:
    """Write one appeal with its messages, transitions and journal entries."""
    citizen, user_created = _citizen_for(appeal, demo_citizen)
    timeline = build_timeline(appeal, citizen_name=citizen.display_name)
    consultation = _create_consultation(appeal, timeline, catalog, citizen)

    messages = Message.objects.bulk_create(
        Message(
            consultation=consultation,
            author=citizen if draft.from_citizen else None,
            author_name=citizen.display_name
            if draft.from_citizen
            else draft.organisation,
            author_role=Role.CITIZEN if draft.from_citizen else Role.OPERATOR,
            text=draft.text,
            visibility=Visibility.PUBLIC,
            created_at=draft.created_at,
        )
        for draft in timeline.messages
    )
    transitions = Transition.objects.bulk_create(
        Transition(
            consultation=consultation,
            action=draft.action,
            from_status=draft.from_status,
            to_status=draft.to_status,
            actor=citizen if draft.by_citizen else None,
            actor_name=draft.actor_name,
            actor_role=draft.actor_role,
            comment=draft.comment,
            details=draft.details,
            created_at=draft.created_at,
        )
        for draft in timeline.transitions
    )
    refresh_facts([consultation.pk])

    imported = {
        "action": JournalAction.CONSULTATION_IMPORT,
        "actor": None,
        "object_type": "consultation",
        "object_id": consultation.pk,
        "object_label": consultation.number,
        "consultation_id": consultation.pk,
        "after": {
            **summary(consultation),
            "source_id": appeal.source_id,
            "at": appeal.created_at.isoformat(),
            "citizen_id": citizen.pk,
            "messages": len(messages),
            "transitions": len(transitions),
        },
    }
    # One batch per appeal: a single lock and index read for all its entries.
    journal.record_many(
        [imported, *_transition_entries(consultation, timeline, transitions, catalog)]
    )
    # bulk_create sends no post_save, so the messages are indexed here.
    index_consultations([consultation.pk])
    return Counter(
        users=int(user_created),
        messages=len(messages),
        transitions=len(transitions),
    )


def _create_consultation(
    appeal: Appeal, timeline: Timeline, catalog: _Catalog, citizen: User
) -> Consultation:
    department = catalog.departments[timeline.department or TRIAGE_DEPARTMENT]
    first_petition = appeal.petitions[0]
    last_event_at = max(appeal.events[-1].at, appeal.final_status_at)
    return Consultation.objects.create(
        number=next_number(appeal.created_at.year),
        citizen=citizen,
        service=catalog.services[appeal.category.category],
        department=department,
        channel=Channel.PORTAL,
        subject=appeal.category.reason[:300],
        description=first_petition.text,
        status=timeline.status,
        created_at=appeal.created_at,
        updated_at=max(last_event_at, appeal.created_at),
        closed_at=appeal.final_status_at
        if timeline.status == Status.ARCHIVED
        else None,
        deadline=appeal_deadline(appeal),
        district=appeal.district,
        external_ref=appeal.source_id,
    )


def appeal_deadline(appeal: Appeal) -> datetime:
    """Return the answer deadline the portal gave the appeal, or 30 days."""
    if appeal.answer_due_at is not None:
        return appeal.answer_due_at
    last = appeal.last_deadline_set
    if isinstance(last, datetime):
        return last
    if isinstance(last, date):
        # The portal's deadlines run to the end of the day, Moscow time.
        return datetime.combine(last, time(23, 59, 59), tzinfo=PORTAL_TIMEZONE)
    return appeal.created_at + timedelta(days=DEFAULT_DEADLINE_DAYS)


def _transition_entries(consultation, timeline, transitions, catalog) -> list[dict]:
    """Return the journal entry of each replayed step, its original time in `after`."""
    department_ids = {
        name: department.pk for name, department in catalog.departments.items()
    }
    triage_id = department_ids.get(TRIAGE_DEPARTMENT)
    entries = []
    for draft, row in zip(timeline.transitions, transitions, strict=True):
        before_id = department_ids.get(draft.department_before, triage_id)
        after_id = department_ids.get(draft.department_after, triage_id)
        entries.append(
            {
                "action": JournalAction.CONSULTATION_FORWARD
                if draft.action == "forward"
                else JournalAction.CONSULTATION_TRANSITION,
                "actor": None,
                "object_type": "consultation",
                "object_id": consultation.pk,
                "object_label": consultation.number,
                "consultation_id": consultation.pk,
                "before": {"status": draft.from_status, "department_id": before_id},
                "after": {
                    "number": consultation.number,
                    "status": draft.to_status,
                    "department_id": after_id,
                    "service_id": consultation.service_id,
                    "action": draft.action,
                    "transition_id": row.pk,
                    "at": draft.created_at.isoformat(),
                    **draft.details,
                },
            }
        )
    return entries
