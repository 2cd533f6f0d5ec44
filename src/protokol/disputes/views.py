"""Pages of disputes: the list, and the claims beside the consultation's record."""

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from protokol.disputes import permissions, services
from protokol.disputes.models import DisputeStatus
from protokol.disputes.presenters import case_file
from protokol.errors import NotFound, ProtokolError
from protokol.web.forms import PageForm, add_field_errors
from protokol.web.views import not_found

PAGE_SIZE = 100


class ExpertForm(PageForm):
    expert = forms.ChoiceField(label=gettext_lazy("Эксперт"))


class ConclusionForm(PageForm):
    text = forms.CharField(
        label=gettext_lazy("Заключение эксперта"),
        widget=forms.Textarea(attrs={"rows": 8}),
    )


class CloseForm(PageForm):
    outcome = forms.ChoiceField(
        label=gettext_lazy("Решение"),
        choices=[
            ("conclude", gettext_lazy("Завершить: протокол остаётся в силе")),
            ("reopen", gettext_lazy("Возобновить подготовку ответа")),
        ],
        widget=forms.RadioSelect,
    )
    comment = forms.CharField(
        label=gettext_lazy("Комментарий"), widget=forms.Textarea(attrs={"rows": 4})
    )


@login_required
def dispute_list(request):
    """List the disputes the user may see, including those assigned to them."""
    disputes = list(services.list_disputes(request.user)[:PAGE_SIZE])
    services.journal_list_read(request.user, count=len(disputes), via="page")
    context = {"title": _("Споры по протоколам"), "disputes": disputes}
    return render(request, "disputes/list.html", context)


def _render(request, dispute_id, *, status: int = 200, **bound_forms):
    user = request.user
    try:
        dispute = services.read_dispute(user, dispute_id, via="page")
    except NotFound:
        return not_found(request)

    expert_form = bound_forms.get("expert_form") or ExpertForm()
    expert_form.fields["expert"].choices = [
        (candidate.username, f"{candidate.display_name} ({candidate.username})")
        for candidate in permissions.expert_candidates(dispute)
    ]
    manager = permissions.can_manage_dispute(user, dispute)
    visible_forms = {
        "expert_form": manager
        and dispute.status in (DisputeStatus.OPEN, DisputeStatus.ASSIGNED),
        "conclusion_form": permissions.is_expert(user, dispute)
        and dispute.status == DisputeStatus.ASSIGNED,
        # Shown before the conclusion too; the service names what is missing.
        "close_form": manager and dispute.status != DisputeStatus.CLOSED,
    }
    # A rejected post of a form the page hides (a second click, a stale tab,
    # a role without the form) shows its errors as page messages instead.
    for name, form in bound_forms.items():
        if not visible_forms[name]:
            for errors in form.errors.values():
                for error in errors:
                    messages.error(request, error)
    context = {
        "title": _("Спор по консультации %(number)s")
        % {"number": dispute.consultation.number},
        "dispute": dispute,
        "file": case_file(dispute, user),
        "can_assign": visible_forms["expert_form"],
        "can_conclude": visible_forms["conclusion_form"],
        "can_close": visible_forms["close_form"],
        "expert_form": expert_form,
        "conclusion_form": bound_forms.get("conclusion_form") or ConclusionForm(),
        "close_form": bound_forms.get("close_form") or CloseForm(),
    }
    return render(request, "disputes/dispute.html", context, status=status)


@login_required
def dispute_page(request, dispute_id: int):
    return _render(request, dispute_id)


def _submit(request, dispute_id, *, form_name, form, write, done):
    """Validate `form`, call `write` and redirect, or show the error on the form.

    A refused write answers with the error's status, so a role that may not
    act gets 403 as from the API.
    """
    status = 422
    if form.is_valid():
        try:
            write(form.cleaned_data)
        except NotFound:
            return not_found(request)
        except ProtokolError as error:
            add_field_errors(form, error)
            status = error.status
        else:
            messages.success(request, done)
            return redirect("disputes:detail", dispute_id=dispute_id)
    return _render(request, dispute_id, status=status, **{form_name: form})


@login_required
@require_POST
def post_expert(request, dispute_id: int):
    form = ExpertForm(request.POST)
    # The choices are checked by the service, which names a wrong expert.
    form.fields["expert"] = forms.CharField(label=_("Эксперт"))
    return _submit(
        request,
        dispute_id,
        form_name="expert_form",
        form=form,
        write=lambda data: services.assign_expert(
            request.user, dispute_id, expert=data["expert"]
        ),
        done=_("Эксперт назначен."),
    )


@login_required
@require_POST
def post_conclusion(request, dispute_id: int):
    return _submit(
        request,
        dispute_id,
        form_name="conclusion_form",
        form=ConclusionForm(request.POST),
        write=lambda data: services.write_conclusion(
            request.user, dispute_id, text=data["text"]
        ),
        done=_("Заключение подписано и добавлено к протоколу."),
    )


@login_required
@require_POST
def post_close(request, dispute_id: int):
    return _submit(
        request,
        dispute_id,
        form_name="close_form",
        form=CloseForm(request.POST),
        write=lambda data: services.close_dispute(
            request.user,
            dispute_id,
            outcome=data["outcome"],
            comment=data["comment"],
        ),
        done=_("Рассмотрение спора завершено."),
    )
