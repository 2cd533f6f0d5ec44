"""Service errors on page forms: one message that names the field by its label."""

from django import forms
from django.utils import translation

from protokol.errors import Conflict, ValidationFailed
from protokol.web.forms import PageForm, add_field_errors, relabel, unchecked


class DocumentsForm(PageForm):
    documents = forms.CharField(label="Другие документы", required=False)
    comment = forms.CharField(label="Комментарий", required=False)


def bound_form() -> DocumentsForm:
    form = DocumentsForm({"documents": "", "comment": ""})
    assert form.is_valid()
    return form


def failed(*errors) -> ValidationFailed:
    items = [{"field": field, "message": message} for field, message in errors]
    return ValidationFailed(items[0]["message"], field=items[0]["field"], errors=items)


def test_error_of_form_field_uses_label():
    form = bound_form()

    add_field_errors(form, failed(("comment", "Поле «comment» не должно быть пустым.")))

    assert form.errors["comment"] == ["Поле «Комментарий» не должно быть пустым."]
    assert form.non_field_errors() == []


def test_error_of_missing_field_uses_kind_label():
    form = bound_form()

    with translation.override("ru"):
        add_field_errors(
            form,
            failed(("snils", "Поле «snils»: контрольная сумма не совпадает.")),
        )

    assert form.non_field_errors() == ["Поле «СНИЛС»: контрольная сумма не совпадает."]


def test_error_of_unknown_field_keeps_code():
    form = bound_form()

    add_field_errors(form, failed(("zip", "Поле «zip» обязательно.")))

    assert form.non_field_errors() == ["Поле «zip» обязательно."]


def test_error_of_list_item_shown_at_list():
    form = bound_form()

    add_field_errors(
        form,
        failed(("documents[1]", "Поле «documents[1]» содержит управляющие символы.")),
    )

    assert form.errors["documents"] == [
        "Поле «Другие документы» содержит управляющие символы."
    ]


def test_every_field_error_shown_once():
    form = bound_form()

    add_field_errors(
        form,
        failed(
            ("comment", "Поле «comment» не должно быть пустым."),
            ("snils", "Поле «snils» обязательно."),
        ),
    )

    assert len(form.errors["comment"]) == 1
    assert len(form.non_field_errors()) == 1
    assert "Проверьте введённые данные" not in str(form.errors)


def test_conflict_keeps_kind_prefix():
    form = bound_form()

    with translation.override("ru"):
        add_field_errors(form, Conflict("Запрос уже закрыт.", field="comment"))

    assert form.errors["comment"] == [
        "Действие невозможно в текущем статусе: Запрос уже закрыт."
    ]


def test_relabel_english_message():
    message = "snils: the checksum does not match; check the number."

    relabelled = relabel(message, "snils", "SNILS")

    assert relabelled == "SNILS: the checksum does not match; check the number."


def test_relabel_replaces_first_mention_only():
    message = "text contains invalid Unicode (a lone surrogate); send UTF-8 text."

    relabelled = relabel(message, "text", "Message")

    assert relabelled == (
        "Message contains invalid Unicode (a lone surrogate); send UTF-8 text."
    )


def test_relabel_skips_longer_codes():
    message = "documents.2 is not a document of this request."

    assert relabel(message, "documents", "Other documents") == message


def test_relabel_document_named_once():
    message = "Нужен документ documents.2 («Справка из школы»): загрузите файл."

    relabelled = relabel(message, "documents.2", "Справка из школы")

    assert relabelled == "Нужен документ «Справка из школы»: загрузите файл."


def test_nul_named_by_label(english):
    form = DocumentsForm({"documents": "a\x00b", "comment": ""})

    assert not form.is_valid()
    assert form.errors["documents"] == [
        "Другие документы contains control characters; remove them."
    ]


def test_unchecked_field_passes_nul():
    form = DocumentsForm({"documents": "", "comment": "a\x00b"})
    unchecked(form.fields["comment"])

    assert form.is_valid()
    assert form.cleaned_data["comment"] == "a\x00b"
