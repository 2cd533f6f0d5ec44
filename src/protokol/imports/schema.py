"""The JSON Lines format of the St Petersburg appeals extract, checked with pydantic.

Each line is one appeal. Validation is strict: a number written as a string or a
time without a UTC offset makes the whole line invalid. Unknown keys are ignored.
"""

from datetime import date
from typing import Annotated, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    model_validator,
)

# Department.name and Service.name allow 300 characters.
Name = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)
]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, frozen=True, extra="ignore")


class Category(_Strict):
    """A portal classification: object type, category and problem type (reason)."""

    object_type: str = ""
    category: Name
    reason: Name


class Responsible(_Strict):
    """The organisations in the portal's sidebar when the appeal was scraped."""

    label: str = ""
    in_progress: bool = False
    executor: Name | None = None
    coordinator: Name | None = None
    controller: Name | None = None


class PastExecutor(_Strict):
    organisation: Name
    executed_at: AwareDatetime | None = None


class Organisations(_Strict):
    answering: list[Name] = []
    performers: list[str] = []
    responsible: Responsible = Responsible()
    responsible_history: list[PastExecutor] = []


class OrganisationPair(_Strict):
    """The controller and coordinator on one side of a forward."""

    controller: Name | None = None
    coordinator: Name | None = None


class _Event(_Strict):
    at: AwareDatetime
    actor_kind: str = ""


class PetitionEvent(_Event):
    """A citizen's message: the first one or a follow-up in a later round."""

    type: Literal["petition"]
    round: int = Field(ge=1)
    text: Text
    # Outcome of the round, e.g. «Не удовлетворён» when the citizen rejected
    # the answer and wrote again.
    status_name: str = ""
    subtype: str | None = None
    attachment_names: list[str] = []
    photo_count: int | None = Field(default=None, ge=0)


class AnswerEvent(_Event):
    """A final answer published by an organisation."""

    type: Literal["answer"]
    organisation: Name
    text: Text
    status_name: str = ""
    performers: list[str] = []
    attachment_names: list[str] = []
    photo_count: int | None = Field(default=None, ge=0)


class InterimAnswerEvent(AnswerEvent):
    """An interim answer with the date the final answer was promised for."""

    type: Literal["interim_answer"]
    final_answer_due: date | None = None


class StatusEvent(_Event):
    type: Literal["status"]
    status_name: Text
    status_code: int


class ForwardEvent(_Event):
    """Re-routing to another coordinator, possibly with a new deadline."""

    type: Literal["forward"]
    from_organisation: OrganisationPair
    to_organisation: OrganisationPair
    old_deadline: date | None = None
    new_deadline: date | None = None
    text: str = ""


class DeadlineChangeEvent(_Event):
    type: Literal["deadline_change"]
    old_deadline: AwareDatetime | None = None
    new_deadline: AwareDatetime | None = None


class CategoryChangeEvent(_Event):
    type: Literal["category_change"]
    old_category: Category | None = None
    new_category: Category


class OtherEvent(_Event):
    """A rare portal event: a case returned for rework or a volunteer's review."""

    type: Literal["other"]
    subtype: Text
    text: str = ""
    status_name: str | None = None
    is_resolved: bool | None = None


Event = Annotated[
    PetitionEvent
    | AnswerEvent
    | InterimAnswerEvent
    | StatusEvent
    | ForwardEvent
    | DeadlineChangeEvent
    | CategoryChangeEvent
    | OtherEvent,
    Field(discriminator="type"),
]


class Appeal(_Strict):
    """One appeal with its events, oldest first."""

    source_id: Annotated[str, StringConstraints(pattern=r"^spb-[0-9a-z]{1,60}$")]
    district: Annotated[str, StringConstraints(strip_whitespace=True, max_length=100)]
    municipality: str | None = None
    category: Category
    initial_category: Category | None = None
    created_at: AwareDatetime
    final_status: Text
    final_status_at: AwareDatetime
    closed: bool = False
    answer_due_at: AwareDatetime | None = None
    # A date for deadlines moved by a forward, a time for other deadline changes.
    last_deadline_set: AwareDatetime | date | None = None
    citizen_rejected_answer: bool = False
    organisations: Organisations
    events: list[Event] = Field(min_length=1)

    @model_validator(mode="after")
    def _has_petition(self):
        if not any(isinstance(event, PetitionEvent) for event in self.events):
            raise ValueError("events contain no petition")
        return self

    @property
    def petitions(self) -> list[PetitionEvent]:
        return [e for e in self.events if isinstance(e, PetitionEvent)]


class InvalidAppeal(ValueError):
    """A line that is not a valid appeal; the message names the first problem."""


def parse_appeal(line: bytes | str) -> Appeal:
    """Parse one JSON line into an Appeal or raise InvalidAppeal."""
    try:
        return Appeal.model_validate_json(line)
    except ValidationError as error:
        raise InvalidAppeal(_describe(error)) from None


def _describe(error: ValidationError) -> str:
    # Built from locations and messages only: pydantic's own text would quote
    # the input, which may contain a citizen's words.
    problems = error.errors(include_input=False, include_url=False)
    first = problems[0]
    where = ".".join(str(part) for part in first["loc"])
    message = f"{where}: {first['msg']}" if where else first["msg"]
    if len(problems) > 1:
        message += f" (and {len(problems) - 1} more problems)"
    return message
