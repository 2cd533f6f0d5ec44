"""Page forms, which render fields and coerce input; the services check the values."""

import re

from django import forms
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError
from django.core.validators import ProhibitNullCharactersValidator
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from protokol.accounts.models import Department
from protokol.catalog.models import Service
from protokol.consultations.lifecycle import ACTIONS, action_label
from protokol.consultations.models import Status, Visibility
from protokol.errors import ProtokolError, StaleVersion, ValidationFailed
from protokol.personal.validators import field_label
from protokol.protocols.services import PROTOCOL_FIELDS
from protokol.search.services import MAX_QUERY_CHARS
from protokol.validation import check_control_characters
from protokol.web.labels import ERROR_LABELS


def localized_name(name: str, name_en: str) -> str:
    """Return the English name on English pages when there is one, else `name`."""
    if get_language() == "en" and name_en:
        return name_en
    return name


def choices_by_name(named) -> list[tuple[str, str]]:
    """Return (code, displayed name) of services or departments, sorted by that name.

    The database orders them by the Russian name, which English pages do
    not show.
    """
    choices = [(item.code, localized_name(item.name, item.name_en)) for item in named]
    return sorted(choices, key=lambda choice: choice[1].casefold())


class PageForm(forms.Form):
    """A form whose labels carry no trailing colon, as the page layout expects.

    Forms that share a page with another form of the same field names set
    `id_prefix`, so that every element id and every label's target is unique.
    Its text fields reject control characters with the services' message,
    naming the field by its label, in place of Django's NUL check.
    """

    id_prefix = ""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("label_suffix", "")
        kwargs.setdefault("auto_id", f"id_{self.id_prefix}%s")
        super().__init__(*args, **kwargs)

    def full_clean(self):
        # Fields are replaced after __init__ in places, so the check is
        # swapped in just before the fields are cleaned.
        for name, field in self.fields.items():
            field.validators = [
                ControlCharacterValidator(name, field)
                if isinstance(validator, ProhibitNullCharactersValidator)
                else validator
                for validator in field.validators
            ]
        super().full_clean()


class ControlCharacterValidator:
    """Form validator that rejects control characters as protokol.validation does.

    Tabs and line breaks pass. The message names the field by its label.
    """

    def __init__(self, name: str, field: forms.Field):
        self.name = name
        self.field = field

    def __call__(self, value):
        label = str(self.field.label or self.name)
        try:
            check_control_characters(str(value), field=label)
        except ValidationFailed as error:
            raise ValidationError(error.message, code="control_characters") from None


class StrictCheckboxInput(forms.CheckboxInput):
    """A checkbox that passes the sent text on, so the field can reject a typo."""

    def value_from_datadict(self, data, files, name):
        if name not in data:
            return False
        return data.get(name)


class CheckboxField(forms.BooleanField):
    """An optional checkbox that accepts on, true or 1 and off, false, 0 or nothing.

    Django's BooleanField takes any other text, such as "maybe", as checked.
    A browser sends "on" for a checked box and nothing for an unchecked one.
    """

    widget = StrictCheckboxInput
    CHECKED = frozenset({"on", "true", "1"})
    UNCHECKED = frozenset({"", "off", "false", "0"})

    def __init__(self, **kwargs):
        kwargs.setdefault("required", False)
        super().__init__(**kwargs)

    def to_python(self, value):
        if not isinstance(value, str):
            return bool(value)
        text = value.strip().lower()
        if text in self.CHECKED:
            return True
        if text in self.UNCHECKED:
            return False
        raise forms.ValidationError(
            self.error_messages["invalid"], code="invalid", params={"value": value}
        )


class VersionedForm(PageForm):
    """A form that posts the consultation version it was shown with.

    The services reject the write when the consultation has changed since.
    """

    # No id: several forms of one page post a version, and no label names it.
    base_version = forms.IntegerField(
        required=False, min_value=1, widget=forms.HiddenInput(attrs={"id": False})
    )

    def clean(self):
        cleaned = super().clean()
        # The field is hidden, so its error is shown for the whole form.
        for error in self._errors.pop("base_version", []):
            self.add_error(None, error)
        return cleaned


class LoginForm(AuthenticationForm):
    error_messages = {
        "invalid_login": _("Неверное имя пользователя или пароль."),
        "inactive": _("Учётная запись отключена."),
    }

    def __init__(self, request=None, *args, **kwargs):
        kwargs.setdefault("label_suffix", "")
        super().__init__(request, *args, **kwargs)
        self.fields["username"].label = _("Имя пользователя")
        self.fields["password"].label = _("Пароль")


class ListFilterForm(PageForm):
    status = forms.ChoiceField(
        label=_("Статус"),
        required=False,
        choices=[("", _("все"))] + list(Status.choices),
    )
    q = forms.CharField(
        label=_("Номер или тема"), required=False, max_length=MAX_QUERY_CHARS
    )


class ConsultationForm(PageForm):
    service = forms.ChoiceField(label=_("Услуга"))
    subject = forms.CharField(label=_("Тема"), max_length=300)
    description = forms.CharField(
        label=_("Описание вопроса"), widget=forms.Textarea(attrs={"rows": 6})
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["service"].choices = [
            ("", _("— выберите услугу —")),
            *choices_by_name(Service.objects.filter(is_active=True)),
        ]


class MessageForm(VersionedForm):
    text = forms.CharField(
        label=_("Сообщение"), widget=forms.Textarea(attrs={"rows": 4})
    )
    visibility = forms.ChoiceField(
        label=_("Кому видно"),
        choices=[
            (Visibility.PUBLIC, _("Гражданину и сотрудникам")),
            (Visibility.INTERNAL, _("Только сотрудникам (внутренняя заметка)")),
        ],
        initial=Visibility.PUBLIC,
        widget=forms.RadioSelect,
    )


# The service's message for a missing file names the multipart field for API
# clients, so the page forms check for the file themselves.
NO_FILE_MESSAGE = _("Файл не выбран: выберите файл и нажмите «Загрузить».")


class AttachmentForm(PageForm):
    file = forms.FileField(
        label=_("Файл"), error_messages={"required": NO_FILE_MESSAGE}
    )


class ProtocolForm(VersionedForm):
    question = forms.CharField(
        label=_("Вопрос гражданина"), widget=forms.Textarea(attrs={"rows": 3})
    )
    documents = forms.CharField(
        label=_("Документы"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("Необязательно: какие документы нужны или были представлены."),
    )
    recommendations = forms.CharField(
        label=_("Рекомендации"), widget=forms.Textarea(attrs={"rows": 4})
    )
    decision = forms.CharField(
        label=_("Решение"), widget=forms.Textarea(attrs={"rows": 3})
    )
    decision_reason = forms.CharField(
        label=_("Обоснование решения"), widget=forms.Textarea(attrs={"rows": 3})
    )

    field_order = [*PROTOCOL_FIELDS, "base_version"]


class TransitionForm(VersionedForm):
    """One comment box shared by the action buttons, each of which posts `action`."""

    action = forms.ChoiceField(choices=[(name, name) for name in ACTIONS])
    comment = forms.CharField(
        label=_("Комментарий"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
    )

    def clean(self):
        cleaned = super().clean()
        rule = ACTIONS.get(cleaned.get("action", ""))
        # A comment with its own error, such as a NUL character, is not missing.
        missing = (
            not self.has_error("comment") and not cleaned.get("comment", "").strip()
        )
        if rule and rule.comment_required and missing:
            self.add_error(
                "comment",
                _("Для действия «%(action)s» нужен комментарий.")
                % {"action": action_label(rule.name)},
            )
        return cleaned


class ForwardForm(VersionedForm):
    id_prefix = "forward_"

    department = forms.ChoiceField(label=_("Отдел"))
    reason = forms.CharField(
        label=_("Причина переадресации"), widget=forms.Textarea(attrs={"rows": 2})
    )

    def __init__(self, *args, current_department_id=None, **kwargs):
        super().__init__(*args, **kwargs)
        departments = Department.objects.exclude(pk=current_department_id)
        self.fields["department"].choices = [
            ("", _("— выберите отдел —")),
            *choices_by_name(departments),
        ]


class ExtensionForm(PageForm):
    id_prefix = "extension_"

    days = forms.IntegerField(label=_("На сколько дней"), initial=30)
    reason = forms.CharField(
        label=_("Причина продления (увидит гражданин)"),
        widget=forms.Textarea(attrs={"rows": 2}),
    )


STALE_MESSAGE = _(
    "Пока вы работали, консультацию изменили (теперь версия %(version)d). "
    "Проверьте изменения на странице и отправьте форму ещё раз: "
    "введённый текст сохранён."
)


def add_service_error(form: forms.Form, exc: ProtokolError) -> None:
    """Attach a service error to the form field it names, or to the whole form."""
    if exc.code == StaleVersion.code:
        form.add_error(None, STALE_MESSAGE % {"version": exc.extra["current_version"]})
        return
    _add_message(form, exc.status, exc.field, exc.message)


NO_FIELDS_MESSAGE = _(
    "В запросе нет ни одного поля формы (%(fields)s), поэтому ничего не "
    "изменено. Отправьте поля формы: поле с новым значением сохраняет его, "
    "пустое поле удаляет значение."
)


def unchecked(field: forms.Field) -> forms.Field:
    """Return `field` without its validators, such as the length and NUL checks.

    Forms whose service checks every field and reports all errors of a send
    together use it, because a form error would hide the service's errors
    until the next send. `maxlength` stays on the widget to guide typing.
    """
    field.validators = []
    return field


class PersonalDataForm(PageForm):
    """Optional text fields, one per personal-data field name; services check them."""

    id_prefix = "data_"

    def __init__(self, *args, field_names=(), labels=None, **kwargs):
        super().__init__(*args, **kwargs)
        labels = labels or {}
        for name in field_names:
            field = forms.CharField(
                label=labels.get(name) or field_label(name),
                required=False,
                max_length=500,
            )
            self.fields[name] = unchecked(field)

    def clean(self):
        # The services replace every value, and a field that is not sent
        # counts as empty, so a post without any field would delete them all.
        cleaned = super().clean()
        if self.fields and not any(name in self.data for name in self.fields):
            names = ", ".join(f"«{field.label}»" for field in self)
            raise forms.ValidationError(
                NO_FIELDS_MESSAGE % {"fields": names}, code="no_fields"
            )
        return cleaned


def add_field_errors(form: forms.Form, exc: ProtokolError) -> None:
    """Attach each field error of a 422 to its field or to the form, named by label."""
    errors = exc.extra.get("errors") or []
    if not errors:
        add_service_error(form, exc)
        return
    for error in errors:
        _add_message(form, exc.status, error["field"], error["message"])


def _add_message(form: forms.Form, status: int, field: str | None, message: str):
    """Attach one service message to the form, naming its field by label.

    A 422 message already names the wrong value and how to fix it, so
    only the other statuses get a prefix naming the kind of failure.
    """
    target = _form_field(form, field)
    if field:
        message = relabel(message, field, _field_label(form, field, target))
    if status != 422:
        kind = ERROR_LABELS.get(status, ERROR_LABELS[400])
        message = f"{kind}: {message}"
    form.add_error(target, message)


def _form_field(form: forms.Form, field: str | None) -> str | None:
    """Return the form field that shows an error about `field`, or None for the form.

    An item of a list, such as `documents[1]`, is shown at the list's field.
    """
    if field is None or field in form.fields:
        return field
    base = field.split("[", 1)[0]
    return base if base in form.fields else None


def _field_label(form: forms.Form, field: str, target: str | None) -> str:
    """Return the label a page shows for `field`, or its kind's label, or `field`."""
    labels = getattr(form, "error_labels", {})
    if target in labels:
        return str(labels[target])
    if target and form.fields[target].label:
        return str(form.fields[target].label)
    return field_label(field)


def relabel(message: str, field: str, label: str) -> str:
    """Return a service message with the field code `field` replaced by `label`.

    Services name fields by code, as the API does ("Поле «snils»: …"), and
    the pages name them by label. Only the first mention is replaced,
    because a code may also be an ordinary word later in the message.
    """
    if label == field:
        return message
    code = re.escape(field)
    # "documents.2 («Справка»)" would name the document twice once relabelled.
    both = re.compile(rf"{code} \((«?){re.escape(label)}(»?)\)")
    if both.search(message):
        return both.sub(lambda m: f"{m[1]}{label}{m[2]}", message, count=1)
    quoted = f"«{field}»"
    if quoted in message:
        return message.replace(quoted, f"«{label}»", 1)
    # A code ends at a space or punctuation, but not at a dot inside a code
    # such as documents.2 or data_fields[0].name.
    mention = re.compile(rf"(?<![\w.\[]){code}(?![\w\[]|\.\w)")
    return mention.sub(lambda m: label, message, count=1)
