"""Forms of data requests: asking, answering, reviewing documents, consent.

The forms render the fields and coerce input; the services check the values,
so a value the form lets through still gets the service's field-level error.
"""

from django import forms
from django.utils.translation import gettext_lazy as _

from protokol.consultations import data_requests
from protokol.consultations.models import DocumentStatus
from protokol.consultations.prefill import EARLIER, THIS_CONSULTATION
from protokol.web.forms import (
    AttachmentForm,
    CheckboxField,
    PageForm,
    VersionedForm,
    unchecked,
)

# Marks shown under a prefilled field, so no value is filled in silently.
PREFILL_NOTES = {
    EARLIER: _("Из ваших прежних данных — проверьте и при необходимости измените."),
    THIS_CONSULTATION: _("Уже указано в этой консультации."),
}


class DataRequestForm(VersionedForm):
    """The operator's choice of the service's fields and named documents."""

    id_prefix = "request_"

    fields = forms.MultipleChoiceField(
        label=_("Поля услуги"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    documents = forms.CharField(
        label=_("Другие документы"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("Каждый документ с новой строки."),
    )
    comment = forms.CharField(
        label=_("Что и зачем нужно (увидит гражданин)"),
        widget=forms.Textarea(attrs={"rows": 2}),
    )

    def __init__(self, *args, service=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["fields"].choices = [
            (
                d.name,
                f"{d.localized_label()} ({_('файл')})"
                if d.is_file
                else d.localized_label(),
            )
            for d in (service.fields if service else [])
        ]

    def document_names(self) -> list[str]:
        text = self.cleaned_data.get("documents", "")
        return [line.strip() for line in text.splitlines() if line.strip()]


def _value_field(definition) -> forms.Field:
    """Return the form field of one requested value field, which checks nothing.

    The service checks every value of an answer and reports all invalid ones
    together, so a choice is a CharField too.
    """
    common = {
        "label": definition.localized_label(),
        "required": False,
        "help_text": definition.localized_help(),
    }
    if definition.type == "choice":
        choices = [("", _("— выберите —")), *definition.localized_choices()]
        field = forms.CharField(widget=forms.Select(choices=choices), **common)
    elif definition.type == "date":
        widget = forms.DateInput(attrs={"type": "date"})
        field = forms.CharField(widget=widget, max_length=20, **common)
    elif definition.type == "email":
        field = forms.CharField(widget=forms.EmailInput, max_length=254, **common)
    elif definition.type == "phone":
        widget = forms.TextInput(attrs={"type": "tel"})
        field = forms.CharField(widget=widget, max_length=40, **common)
    else:
        field = forms.CharField(max_length=500, **common)
    return unchecked(field)


class DataAnswerForm(VersionedForm):
    """Exactly the requested fields and a file input per document still missing.

    File inputs are named `documents.ID`, the names the service's errors use.
    A required field's label ends in " *", and `error_labels` lists the
    labels without it that the field's error messages use. The form checks
    no value, file or comment itself, so that one send shows every error
    that the service finds.
    """

    id_prefix = "answer_"

    comment = unchecked(
        forms.CharField(
            label=_("Комментарий"),
            required=False,
            widget=forms.Textarea(attrs={"rows": 2}),
        )
    )

    def __init__(self, *args, request_detail=None, pending=(), **kwargs):
        super().__init__(*args, **kwargs)
        requested = (request_detail or {}).get("fields", [])
        self.error_labels = {}
        for item in requested:
            field = _value_field(item["definition"])
            self.error_labels[item["name"]] = field.label
            if item["required"]:
                field.label = f"{field.label} *"
            if item["value"] is not None:
                self.initial.setdefault(item["name"], item["value"])
                note = PREFILL_NOTES[item["source"]]
                field.help_text = " ".join(filter(None, [str(note), field.help_text]))
                field.widget.attrs["data-prefill"] = item["source"]
            self.fields[item["name"]] = field
        for document in pending:
            name = f"documents.{document.pk}"
            self.error_labels[name] = data_requests.document_name(document)
            # An empty file reaches the service, which names it with the
            # other errors. FileInput has no "clear" box to contradict a file.
            self.fields[name] = forms.FileField(
                label=f"{self.error_labels[name]} *",
                required=False,
                allow_empty_file=True,
                widget=forms.FileInput,
            )
        self.order_fields([*(item["name"] for item in requested), "comment"])

    def values(self) -> dict:
        return {
            name: value
            for name, value in self.cleaned_data.items()
            if name not in ("comment", "base_version")
            and not name.startswith("documents.")
        }

    def files_by_document(self) -> dict:
        return {
            name.removeprefix("documents."): upload
            for name, upload in self.cleaned_data.items()
            if name.startswith("documents.") and upload
        }


class DocumentForm(PageForm):
    """A form of one checklist entry, whose element ids name the document."""

    def __init__(self, *args, document_id: int, **kwargs):
        kwargs.setdefault("auto_id", f"id_document_{document_id}_%s")
        super().__init__(*args, **kwargs)


class DocumentReviewForm(DocumentForm, VersionedForm):
    """Accept or reject one requested document; the buttons post `status`."""

    status = forms.ChoiceField(
        choices=[
            (DocumentStatus.ACCEPTED, _("Принять")),
            (DocumentStatus.REJECTED, _("Отклонить")),
        ]
    )
    reason = forms.CharField(
        label=_("Причина отклонения"),
        required=False,
        widget=forms.TextInput,
    )


class DocumentUploadForm(DocumentForm, AttachmentForm):
    """The file of one requested document."""


class PrefillConsentForm(PageForm):
    enabled = CheckboxField(
        label=_(
            "Подставлять в формы запросов данные, которые я уже указывал(а) раньше"
        ),
        help_text=_(
            "Подставленные значения всегда отмечены, и их можно изменить перед "
            "отправкой."
        ),
        error_messages={
            "invalid": _(
                "Поле «enabled»: значение «%(value)s» не распознано. Отправьте "
                "on, чтобы включить подстановку, или off либо ничего, чтобы "
                "выключить."
            )
        },
    )
