"""Templates of generated consultations, learned from the St Petersburg appeals.

The generator resamples whole appeals (a bootstrap), so the joint
distribution of service, department, number and order of messages, forwards,
status changes, final status and the gaps between events is the one in the
file. Only the date moves: each copy is shifted by whole weeks, which keeps
the weekday and the time of day of every event.
"""

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from protokol.imports.schema import InvalidAppeal, parse_appeal
from protokol.imports.services import (
    TRIAGE_DEPARTMENT,
    appeal_deadline,
    default_file,
    read_lines,
)
from protokol.imports.timeline import MessageDraft, TransitionDraft, build_timeline

# Stands for the generated citizen's name in the templates' transitions.
CITIZEN_PLACEHOLDER = "{citizen}"


@dataclass(frozen=True)
class AppealTemplate:
    """One real appeal as the import replays it, with offsets from its opening.

    The messages and transitions keep their original times; the generator
    moves each by the same shift as the opening.
    """

    created_at: datetime
    service_name: str
    department_name: str
    subject: str
    description: str
    status: str
    district: str
    deadline_offset: timedelta
    # None while the appeal is not archived.
    closed_offset: timedelta | None
    last_offset: timedelta
    messages: tuple[MessageDraft, ...]
    transitions: tuple[TransitionDraft, ...]


@dataclass(frozen=True)
class Profile:
    """The templates of one file and the distributions they carry."""

    templates: tuple[AppealTemplate, ...]

    def summary(self) -> dict:
        """Return the shares and counts the generator reproduces, for reports."""
        total = len(self.templates)
        messages = sorted(len(t.messages) for t in self.templates)
        forwards = Counter(
            sum(step.action == "forward" for step in t.transitions)
            for t in self.templates
        )
        return {
            "appeals": total,
            "services": len({t.service_name for t in self.templates}),
            "departments": len({t.department_name for t in self.templates}),
            "messages_mean": sum(messages) / total,
            "messages_median": messages[total // 2],
            "messages_p90": messages[int(total * 0.9)],
            "forwarded_share": 1 - forwards[0] / total,
            "statuses": dict(Counter(t.status for t in self.templates)),
        }


def learn_profile(path: Path | None = None) -> Profile:
    """Read every valid appeal of `path` (default: the packaged sample) as a template.

    Raises ValueError when the file contains no valid appeal.
    """
    path = Path(path) if path is not None else default_file()
    templates = []
    for _, line in read_lines(path):
        try:
            appeal = parse_appeal(line)
        except InvalidAppeal:
            continue
        templates.append(_template(appeal))
    if not templates:
        raise ValueError(f"{path} contains no valid appeal to learn from")
    return Profile(templates=tuple(templates))


def _template(appeal) -> AppealTemplate:
    # The import's own replay, so generated rows match imported ones.
    timeline = build_timeline(appeal, citizen_name=CITIZEN_PLACEHOLDER)
    opened = appeal.created_at
    last = max(appeal.events[-1].at, appeal.final_status_at, opened)
    archived = timeline.status == "archived"
    return AppealTemplate(
        created_at=opened,
        service_name=appeal.category.category,
        department_name=timeline.department or TRIAGE_DEPARTMENT,
        subject=appeal.category.reason[:300],
        description=appeal.petitions[0].text,
        status=timeline.status,
        district=appeal.district,
        deadline_offset=appeal_deadline(appeal) - opened,
        closed_offset=(appeal.final_status_at - opened) if archived else None,
        last_offset=last - opened,
        messages=timeline.messages,
        transitions=timeline.transitions,
    )
