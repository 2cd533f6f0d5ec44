"""Replay of an appeal's portal events as Protokol messages and lifecycle steps.

Pure functions over a parsed Appeal: nothing here touches the database, so the
mapping can be tested and read on its own.
"""

from dataclasses import dataclass, field
from datetime import datetime

from protokol.consultations.models import Status
from protokol.imports.schema import (
    AnswerEvent,
    Appeal,
    CategoryChangeEvent,
    DeadlineChangeEvent,
    ForwardEvent,
    InterimAnswerEvent,
    OtherEvent,
    PetitionEvent,
    StatusEvent,
)

PORTAL_NAME = "Портал «Наш Санкт-Петербург»"
MODERATOR_NAME = "Модератор портала"
PUBLIC_CONTROLLER_NAME = "Народный контролёр"
CLOSED_PREFIX = "Завершено"
REJECTED_ROUND = "Не удовлетворён"

# Portal statuses and the Protokol status each one leads to.
PORTAL_STATUSES = {
    "Модерация": Status.INITIATED,
    "Рассмотрение": Status.DRAFTING,
    "Промежуточный ответ": Status.DRAFTING,
    "Получен ответ": Status.SIGNED,
}

# Lifecycle action names for each change of status, as in consultations.lifecycle.
ACTIONS_BY_CHANGE = {
    (Status.INITIATED, Status.DRAFTING): "take",
    (Status.DRAFTING, Status.SIGNED): "sign",
    (Status.SIGNED, Status.ARCHIVED): "archive",
    (Status.SIGNED, Status.DISPUTED): "dispute",
    (Status.ARCHIVED, Status.DISPUTED): "dispute",
    (Status.DISPUTED, Status.DRAFTING): "reopen",
    (Status.SIGNED, Status.DRAFTING): "return",
}
# Action of a portal status event that leaves the Protokol status as it is.
UNCHANGED_STATUS_ACTION = "portal_status"


@dataclass(frozen=True)
class MessageDraft:
    """A public message to create: the citizen's petition or an official answer."""

    created_at: datetime
    text: str
    from_citizen: bool
    # The answering organisation; empty for the citizen's own messages.
    organisation: str = ""


@dataclass(frozen=True)
class TransitionDraft:
    """A lifecycle step to create, with the departments before and after it."""

    created_at: datetime
    action: str
    from_status: str
    to_status: str
    actor_name: str
    actor_role: str
    by_citizen: bool
    department_before: str | None
    department_after: str | None
    comment: str = ""
    details: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Timeline:
    """Everything an appeal's events produce, and the state they end in."""

    messages: tuple[MessageDraft, ...]
    transitions: tuple[TransitionDraft, ...]
    status: str
    department: str | None


def portal_status_target(name: str) -> str | None:
    """Return the Protokol status of a portal status name, or None if unknown."""
    if name.startswith(CLOSED_PREFIX):
        return Status.ARCHIVED
    return PORTAL_STATUSES.get(name)


def current_coordinator(appeal: Appeal) -> str | None:
    """Return the organisation that handles the appeal at the end of its history."""
    for event in reversed(appeal.events):
        if isinstance(event, ForwardEvent) and event.to_organisation.coordinator:
            return event.to_organisation.coordinator
    responsible = appeal.organisations.responsible
    if responsible.executor or responsible.coordinator:
        return responsible.executor or responsible.coordinator
    if appeal.organisations.answering:
        return appeal.organisations.answering[0]
    return None


def organisation_names(appeal: Appeal) -> set[str]:
    """Return every organisation that coordinates, controls or answers the appeal.

    Performers (management companies and contractors) are left out: they do the
    work but neither answer nor route appeals.
    """
    organisations = appeal.organisations
    responsible = organisations.responsible
    names = set(organisations.answering)
    names.update(
        name
        for name in (
            responsible.executor,
            responsible.coordinator,
            responsible.controller,
        )
        if name
    )
    names.update(past.organisation for past in organisations.responsible_history)
    for event in appeal.events:
        if isinstance(event, ForwardEvent):
            for pair in (event.from_organisation, event.to_organisation):
                names.update(
                    name for name in (pair.controller, pair.coordinator) if name
                )
        elif isinstance(event, AnswerEvent):
            names.add(event.organisation)
    return names


def build_timeline(appeal: Appeal, *, citizen_name: str) -> Timeline:
    """Replay the events of `appeal` from the status `initiated`."""
    replay = _Replay(appeal, citizen_name)
    for event in appeal.events:
        replay.apply(event)
    return Timeline(
        messages=tuple(replay.messages),
        transitions=tuple(replay.transitions),
        status=replay.status,
        department=replay.department,
    )


class _Replay:
    def __init__(self, appeal: Appeal, citizen_name: str):
        self.citizen_name = citizen_name
        self.status = Status.INITIATED
        self.department = _first_coordinator(appeal)
        self.petitions_seen = 0
        self.last_round_status = ""
        self.messages: list[MessageDraft] = []
        self.transitions: list[TransitionDraft] = []

    def apply(self, event) -> None:
        handler = {
            PetitionEvent: self._petition,
            AnswerEvent: self._answer,
            InterimAnswerEvent: self._answer,
            StatusEvent: self._status,
            ForwardEvent: self._forward,
            DeadlineChangeEvent: self._deadline_change,
            CategoryChangeEvent: self._category_change,
            OtherEvent: self._other,
        }[type(event)]
        handler(event)

    def _step(
        self,
        event,
        action: str,
        to_status: str,
        *,
        actor: tuple[str, str] | None = None,
        by_citizen: bool = False,
        department_before: str | None = None,
        comment: str = "",
        details: dict | None = None,
    ) -> None:
        if actor is None:
            actor = self._actor(event, by_citizen)
        self.transitions.append(
            TransitionDraft(
                created_at=event.at,
                action=action,
                from_status=self.status,
                to_status=to_status,
                actor_name=actor[0],
                actor_role=actor[1],
                by_citizen=by_citizen,
                department_before=department_before or self.department,
                department_after=self.department,
                comment=comment,
                details=details or {},
            )
        )
        self.status = to_status

    def _actor(self, event, by_citizen: bool) -> tuple[str, str]:
        if by_citizen:
            return self.citizen_name, "citizen"
        if event.actor_kind == "moderator":
            return MODERATOR_NAME, "moderator"
        return PORTAL_NAME, "system"

    def _petition(self, event: PetitionEvent) -> None:
        self.messages.append(
            MessageDraft(
                created_at=event.at,
                text=_with_files(event.text, event.attachment_names, event.photo_count),
                from_citizen=True,
            )
        )
        # A follow-up after an answer contests it. In the extract, a round is
        # marked «Не удовлетворён» only once its follow-up is published, so a
        # follow-up still on moderation counts as a dispute too.
        if self.petitions_seen and self.status in (Status.SIGNED, Status.ARCHIVED):
            self._step(
                event,
                "dispute",
                Status.DISPUTED,
                by_citizen=True,
                details={
                    "portal_round": event.round,
                    "answer_rejected": self.last_round_status == REJECTED_ROUND,
                    "on_moderation": event.subtype == "on_moderation",
                },
            )
        self.petitions_seen += 1
        self.last_round_status = event.status_name

    def _answer(self, event: AnswerEvent) -> None:
        text = _with_files(event.text, event.attachment_names, event.photo_count)
        if isinstance(event, InterimAnswerEvent):
            heading = "Промежуточный ответ."
            if event.final_answer_due:
                due = event.final_answer_due.strftime("%d.%m.%Y")
                heading += f" Окончательный ответ ожидается до {due}."
            text = f"{heading}\n\n{text}"
        self.messages.append(
            MessageDraft(
                created_at=event.at,
                text=text,
                from_citizen=False,
                organisation=event.organisation,
            )
        )

    def _status(self, event: StatusEvent) -> None:
        target = portal_status_target(event.status_name) or self.status
        # Moderation of a follow-up keeps the dispute open: the case goes back
        # to drafting only when the moderator publishes it (Рассмотрение).
        if target == Status.INITIATED and self.status != Status.INITIATED:
            target = self.status
        action = ACTIONS_BY_CHANGE.get((self.status, target), UNCHANGED_STATUS_ACTION)
        # The portal names the citizen as the actor of two closures: the
        # author's own confirmation and a volunteer controller's.
        actor = None
        if "Народный контролер" in event.status_name:
            actor = (PUBLIC_CONTROLLER_NAME, "citizen")
        self._step(
            event,
            action,
            target,
            actor=actor,
            by_citizen=actor is None and event.actor_kind == "citizen",
            details={
                "portal_status": event.status_name,
                "portal_status_code": event.status_code,
            },
        )

    def _forward(self, event: ForwardEvent) -> None:
        before = self.department
        self.department = event.to_organisation.coordinator or self.department
        sender = event.from_organisation.coordinator or before or PORTAL_NAME
        self._step(
            event,
            "forward",
            self.status,
            actor=(sender, "operator"),
            department_before=before,
            comment=event.text.strip(),
            details={
                "from_organisation": event.from_organisation.model_dump(
                    exclude_none=True
                ),
                "to_organisation": event.to_organisation.model_dump(exclude_none=True),
                "old_deadline": _iso(event.old_deadline),
                "new_deadline": _iso(event.new_deadline),
            },
        )

    def _deadline_change(self, event: DeadlineChangeEvent) -> None:
        self._step(
            event,
            "change_deadline",
            self.status,
            details={
                "old_deadline": _iso(event.old_deadline),
                "new_deadline": _iso(event.new_deadline),
            },
        )

    def _category_change(self, event: CategoryChangeEvent) -> None:
        old = event.old_category.model_dump() if event.old_category else None
        self._step(
            event,
            "change_category",
            self.status,
            details={
                "old_category": old,
                "new_category": event.new_category.model_dump(),
            },
        )

    def _other(self, event: OtherEvent) -> None:
        details = {"portal_event": event.subtype}
        if event.is_resolved is not None:
            details["is_resolved"] = event.is_resolved
        actor = None
        if event.subtype == "public_controller_review":
            actor = (PUBLIC_CONTROLLER_NAME, "citizen")
        self._step(
            event,
            "portal_note",
            self.status,
            actor=actor,
            comment=event.text.strip(),
            details=details,
        )


def _first_coordinator(appeal: Appeal) -> str | None:
    for event in appeal.events:
        if isinstance(event, ForwardEvent):
            return event.from_organisation.coordinator or current_coordinator(appeal)
    return current_coordinator(appeal)


def _with_files(text: str, names: list[str], photos: int | None) -> str:
    # The extract keeps only file names and photo counts, so the message lists
    # what was attached instead of linking files that do not exist here.
    notes = []
    if names:
        notes.append("Вложения (файлы не перенесены): " + ", ".join(names))
    if photos:
        notes.append(f"Фотографий: {photos} (не перенесены)")
    if not notes:
        return text
    return text + "\n\n" + "\n".join(notes)


def _iso(value) -> str | None:
    return value.isoformat() if value is not None else None
