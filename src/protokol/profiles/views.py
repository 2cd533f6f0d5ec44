"""The signed-in user's profile page: the time zone of deadlines."""

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from protokol.errors import ValidationFailed
from protokol.profiles import services
from protokol.web.forms import PageForm


class ProfileForm(PageForm):
    time_zone = forms.ChoiceField(
        label=gettext_lazy("Часовой пояс"),
        help_text=gettext_lazy("В нём показываются сроки ответа на ваши обращения."),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["time_zone"].choices = [
            (name, name) for name in services.time_zone_names()
        ]


@login_required
def profile_page(request):
    """Show and save the user's time zone."""
    form = ProfileForm(
        request.POST or None,
        initial={"time_zone": services.time_zone_of(request.user)},
    )
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                services.set_time_zone(request.user, form.cleaned_data["time_zone"])
            except ValidationFailed as failure:
                form.add_error("time_zone", failure.message)
            else:
                messages.success(request, _("Часовой пояс сохранён."))
                return redirect("profiles:edit")
        status = 422
    context = {"title": _("Профиль"), "form": form}
    return render(request, "profiles/profile.html", context, status=status)
