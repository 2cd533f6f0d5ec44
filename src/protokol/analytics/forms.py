"""The filter form of the analytics pages; parse_filters checks the values."""

from django import forms
from django.utils.translation import gettext_lazy as _

from protokol.accounts.models import Department
from protokol.analytics.filters import DEFAULT_REPEAT_DAYS
from protokol.catalog.models import Service
from protokol.consultations.models import Channel, Consultation
from protokol.consultations.permissions import consultation_scope
from protokol.web.forms import PageForm, choices_by_name

ALL = [("", _("все"))]
# The district choices come from this many of the newest consultations.
DISTRICT_SAMPLE = 2000


class DateInput(forms.DateInput):
    input_type = "date"


class AnalyticsFilterForm(PageForm):
    date_from = forms.CharField(label=_("С даты"), required=False, widget=DateInput)
    date_to = forms.CharField(label=_("По дату"), required=False, widget=DateInput)
    granularity = forms.ChoiceField(
        label=_("Период"),
        required=False,
        choices=[("month", _("месяц")), ("week", _("неделя"))],
    )
    service = forms.ChoiceField(label=_("Услуга"), required=False)
    department = forms.ChoiceField(label=_("Отдел"), required=False)
    district = forms.ChoiceField(label=_("Район"), required=False)
    channel = forms.ChoiceField(
        label=_("Канал"), required=False, choices=ALL + list(Channel.choices)
    )
    repeat_days = forms.IntegerField(
        label=_("Повторное обращение: дней"),
        required=False,
        min_value=1,
        initial=DEFAULT_REPEAT_DAYS,
        help_text=_("Та же услуга от того же гражданина за это число дней."),
    )

    def __init__(self, user, *args, **kwargs):
        super().__init__(*args, **kwargs)
        visible = Consultation.objects.filter(consultation_scope(user)).order_by()
        departments = Department.objects.filter(pk__in=visible.values("department_id"))
        services = Service.objects.filter(pk__in=visible.values("service_id"))
        # NOTE: the districts of the newest consultations only: a DISTINCT over
        # all of them read the whole table on every page. A district seen only
        # in older ones is still accepted in the address. Remove when the
        # districts have a table of their own.
        newest = visible.order_by("-created_at", "-id").values_list(
            "district", flat=True
        )[:DISTRICT_SAMPLE]
        districts = sorted({district for district in newest if district})
        chosen = (self.data or {}).get("district")
        if chosen and chosen not in districts:
            districts = sorted([*districts, chosen])
        self.fields["department"].choices = ALL + choices_by_name(departments)
        self.fields["service"].choices = ALL + choices_by_name(services)
        self.fields["district"].choices = ALL + [(d, d) for d in districts]
