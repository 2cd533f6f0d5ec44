"""Pages of personal data: the citizen's identifiers and a consultation's data."""

import structlog
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from protokol.accounts import identifiers
from protokol.accounts.models import Role
from protokol.consultations import (
    lifecycle,
    permissions,
    personal_data,
    prefill,
    services,
)
from protokol.consultations.models import Status
from protokol.errors import NotFound, ProtokolError
from protokol.web import forms
from protokol.web.data_request_forms import PrefillConsentForm
from protokol.web.views import not_found

log = structlog.get_logger(__name__)


@login_required
def my_identifiers(request):
    """Show and change the citizen's identifiers; showing them is journaled."""
    if request.user.role != Role.CITIZEN:
        return redirect("web:home")

    form = None
    status = 200
    if request.method == "POST":
        form = forms.PersonalDataForm(
            request.POST, field_names=identifiers.IDENTIFIER_FIELDS
        )
        if form.is_valid():
            try:
                identifiers.set_identifiers(request.user, form.cleaned_data)
            except ProtokolError as exc:
                # The error code only: the values must not reach the log.
                log.info("page_request_rejected", page="identifiers", error=exc.code)
                forms.add_field_errors(form, exc)
                status = exc.status
            else:
                messages.success(request, _("Данные сохранены."))
                return redirect("web:my_identifiers")
        else:
            status = 422
    return identifiers_page(request, form=form, status=status)


def identifiers_page(request, *, form=None, consent_form=None, status: int = 200):
    """Render the identifiers page, with a posted form kept as it was sent.

    Without a posted identifiers form the stored values are shown, and that
    read is journaled.
    """
    if form is None:
        current = identifiers.read_identifiers(request.user, via="page")
        form = forms.PersonalDataForm(
            initial=current, field_names=identifiers.IDENTIFIER_FIELDS
        )
    if consent_form is None:
        consent_form = PrefillConsentForm(
            initial={"enabled": prefill.consent_enabled(request.user)}
        )
    context = {"form": form, "consent_form": consent_form}
    return render(request, "web/my_identifiers.html", context, status=status)


def data_context(request, consultation, data_form=None) -> dict:
    """Return the consultation page's personal-data section for the viewer.

    Values are decrypted, and the read journaled, only when the viewer asks
    to see them (`?show_data=1`). After a form with an error, the form shows
    what was typed and nothing is decrypted.
    """
    user = request.user
    fields = consultation.service.value_fields
    names = [d.name for d in fields]
    labels = {d.name: d.localized_label() for d in fields}
    if not fields or not permissions.can_view_personal_data(user, consultation):
        return {"data_visible": False}

    can_give = (
        permissions.can_give_personal_data(user, consultation)
        and consultation.status not in lifecycle.SEALED_STATUSES
        and consultation.status != Status.WITHDRAWN
    )
    show = request.GET.get("show_data") == "1" or data_form is not None
    context = {
        "data_visible": True,
        "data_summary": personal_data.data_summary(consultation),
        "data_shown": show,
        "data_can_give": can_give,
    }
    if show and data_form is None:
        read = personal_data.read_collected_data(user, consultation.pk, via="page")
        context["data_values"] = [
            (labels[name], read["values"].get(name, "")) for name in names
        ]
        if can_give:
            data_form = forms.PersonalDataForm(
                initial=read["values"], field_names=names, labels=labels
            )
    context["data_form"] = data_form
    return context


@login_required
@require_POST
def post_collected_data(request, consultation_id: int):
    """Replace a consultation's collected data from the page form."""
    from protokol.web.consultation_views import _submit

    try:
        consultation = services.get_visible(request.user, consultation_id)
    except NotFound:
        return not_found(request)
    fields = consultation.service.value_fields
    form = forms.PersonalDataForm(
        request.POST,
        field_names=[d.name for d in fields],
        labels={d.name: d.localized_label() for d in fields},
    )

    def write(data):
        personal_data.set_collected_data(request.user, consultation_id, data)

    return _submit(
        request,
        consultation_id,
        form_name="data_form",
        form=form,
        write=write,
        anchor="personal-data",
        done=_("Данные для услуги сохранены."),
    )
