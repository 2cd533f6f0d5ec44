"""The consultation lifecycle as an explicit table of actions, states and roles."""

from dataclasses import dataclass

from django.utils.translation import gettext_lazy as _

from protokol.accounts.models import Role
from protokol.consultations.models import Status as S


@dataclass(frozen=True)
class Action:
    """One lifecycle action: where it may start, where it leads, who may take it."""

    name: str
    sources: frozenset[str]
    target: str
    roles: frozenset[str]
    comment_required: bool = False


def _action(name, sources, target, roles, *, comment_required=False) -> Action:
    return Action(name, frozenset(sources), target, frozenset(roles), comment_required)


BEFORE_SIGNING = (S.INITIATED, S.DATA_REQUESTED, S.DRAFTING, S.IN_REVIEW, S.APPROVED)

ACTIONS: dict[str, Action] = {
    a.name: a
    for a in [
        _action("take", [S.INITIATED], S.DRAFTING, [Role.OPERATOR]),
        _action(
            "request_data",
            [S.INITIATED, S.DRAFTING],
            S.DATA_REQUESTED,
            [Role.OPERATOR],
            comment_required=True,
        ),
        _action("provide_data", [S.DATA_REQUESTED], S.DRAFTING, [Role.CITIZEN]),
        _action("submit", [S.DRAFTING], S.IN_REVIEW, [Role.OPERATOR]),
        _action(
            "return",
            [S.IN_REVIEW],
            S.DRAFTING,
            [Role.REVIEWER],
            comment_required=True,
        ),
        _action("approve", [S.IN_REVIEW], S.APPROVED, [Role.REVIEWER]),
        _action("sign", [S.APPROVED], S.SIGNED, [Role.REVIEWER, Role.SUPERVISOR]),
        _action("archive", [S.SIGNED], S.ARCHIVED, [Role.OPERATOR, Role.SUPERVISOR]),
        _action("withdraw", BEFORE_SIGNING, S.WITHDRAWN, [Role.CITIZEN]),
        _action(
            "dispute",
            [S.SIGNED, S.ARCHIVED],
            S.DISPUTED,
            [Role.CITIZEN],
            comment_required=True,
        ),
        _action(
            "conclude",
            [S.DISPUTED],
            S.ARCHIVED,
            [Role.SUPERVISOR],
            comment_required=True,
        ),
        # The real appeals show disputes that end in a new answer rather than a
        # conclusion: the supervisor sends the case back to drafting.
        _action(
            "reopen",
            [S.DISPUTED],
            S.DRAFTING,
            [Role.SUPERVISOR],
            comment_required=True,
        ),
    ]
}

# Button captions: what the person is about to do.
ACTION_LABELS = {
    "take": _("Взять в работу"),
    "request_data": _("Запросить данные"),
    "provide_data": _("Данные предоставлены"),
    "submit": _("Отправить на согласование"),
    "return": _("Вернуть на доработку"),
    "approve": _("Согласовать"),
    "sign": _("Подписать"),
    "archive": _("Передать в архив"),
    "withdraw": _("Отозвать обращение"),
    "dispute": _("Оспорить"),
    "conclude": _("Завершить рассмотрение спора"),
    "reopen": _("Возобновить подготовку ответа"),
}

# After these states the protocol, messages and attachments never change.
SEALED_STATUSES = frozenset({S.SIGNED, S.ARCHIVED, S.DISPUTED})
# States in which the consultation counts as closed.
CLOSED_STATUSES = frozenset({S.ARCHIVED, S.WITHDRAWN})


def action_label(action: str) -> str:
    """Return the display name of an action, or its name if it has none."""
    return str(ACTION_LABELS.get(action, action))


def allowed_actions(status: str) -> list[str]:
    """Return the names of the actions that may start from `status`."""
    return [name for name, action in ACTIONS.items() if status in action.sources]


def allowed_actions_for(status: str, role: str) -> list[str]:
    """Return the actions a person of `role` may take from `status`."""
    return [
        name
        for name, action in ACTIONS.items()
        if status in action.sources and role in action.roles
    ]
