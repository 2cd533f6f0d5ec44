"""Display labels of lifecycle events, roles and error kinds, in Russian source."""

from django.utils.translation import gettext_lazy as _

from protokol.accounts.models import Role
from protokol.consultations.models import Channel, Status

# Timeline captions: what happened at that step.
EVENT_LABELS = {
    "create": _("Зарегистрирована"),
    "take": _("Взята в работу"),
    "request_data": _("Запрошены данные"),
    "provide_data": _("Данные предоставлены"),
    "submit": _("Отправлена на согласование"),
    "return": _("Возвращена на доработку"),
    "approve": _("Согласована"),
    "sign": _("Подписана"),
    "archive": _("Передана в архив"),
    "withdraw": _("Отозвана гражданином"),
    "dispute": _("Оспорена гражданином"),
    "conclude": _("Спор рассмотрен"),
    "reopen": _("Подготовка ответа возобновлена"),
    "forward": _("Переадресована в другой отдел"),
    "assign": _("Назначена исполнителю"),
    "extend": _("Срок ответа продлён"),
    "import": _("Импортирована"),
    # Steps recorded by imports from the city portal.
    "portal_status": _("Статус на портале"),
    "change_deadline": _("Срок изменён"),
    "change_category": _("Категория изменена"),
    "portal_note": _("Отметка портала"),
}

# Actors of imported steps that are not accounts of this installation.
EXTERNAL_ROLE_LABELS = {
    "moderator": _("модератор портала"),
    "system": _("система"),
}

ADDENDUM_LABELS = {
    "conclusion": _("Заключение по спору"),
    "correction": _("Исправление"),
    "expert_conclusion": _("Заключение эксперта"),
}

# Prefixes of service messages on the pages, naming the kind of failure.
ERROR_LABELS = {
    400: _("Запрос не выполнен"),
    401: _("Требуется вход"),
    403: _("Недостаточно прав"),
    404: _("Не найдено"),
    409: _("Действие невозможно в текущем статусе"),
    413: _("Файл слишком большой"),
    415: _("Этот тип файла не принимается"),
    422: _("Проверьте введённые данные"),
}

# The main path a consultation takes, drawn as steps above the timeline.
MAIN_PATH = [
    Status.INITIATED,
    Status.DRAFTING,
    Status.IN_REVIEW,
    Status.APPROVED,
    Status.SIGNED,
    Status.ARCHIVED,
]


def role_label(role: str) -> str:
    """Return the display name of a role, or the stored value if it is unknown."""
    try:
        return Role(role).label
    except ValueError:
        return EXTERNAL_ROLE_LABELS.get(role, role)


def status_label(status: str) -> str:
    """Return the display name of a status, or the stored value if it is unknown."""
    try:
        return Status(status).label
    except ValueError:
        return status


def channel_label(channel: str) -> str:
    """Return the display name of an intake channel, or the stored value."""
    try:
        return Channel(channel).label
    except ValueError:
        return channel
