"""Administration pages of the workflow: routing, calendars, targets, templates.

They are served at /admin/ by `site`, to administrators (and to supervisors
for answer templates). Every save goes through configuration.py or
answer_templates.py, so it is validated and journaled like any other write;
a ValidationFailed appears on the form next to the field it names.
"""

from functools import update_wrapper

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

from protokol.accounts.models import Role
from protokol.errors import ValidationFailed
from protokol.profiles.services import time_zone_names
from protokol.workflow import answer_templates, configuration
from protokol.workflow.models import (
    AnswerTemplate,
    DepartmentCalendar,
    RoutingRule,
    ServiceTarget,
)

ADMIN_ROLES = frozenset({Role.ADMIN, Role.SUPERVISOR})

# NOTE: the admin index shows these Russian names. A change of the models'
# Meta needs a workflow migration, so they are set here until the next one.
for _model, _singular, _plural in (
    (RoutingRule, _("правило маршрутизации"), _("Правила маршрутизации")),
    (DepartmentCalendar, _("календарь отдела"), _("Календари отделов")),
    (ServiceTarget, _("срок услуги"), _("Сроки услуг")),
    (AnswerTemplate, _("шаблон ответа"), _("Шаблоны ответов")),
):
    _model._meta.verbose_name = _singular
    _model._meta.verbose_name_plural = _plural


class ConfigurationSite(admin.AdminSite):
    """The admin site of Protokol: roles decide, not Django's is_staff flag."""

    site_header = _("Настройка Протокола")
    site_title = _("Настройка Протокола")
    index_title = _("Настройка маршрутизации, календарей, сроков и шаблонов")

    def has_permission(self, request) -> bool:
        user = request.user
        return user.is_active and user.is_authenticated and user.role in ADMIN_ROLES

    def admin_view(self, view, cacheable=False):
        """Answer 403 to a signed-in user without an admin role on every page.

        Django would send them to the sign-in form, which is for anonymous
        visitors; the 403 is journaled like any other denial.
        """

        wrapped = super().admin_view(view, cacheable)

        def checked(request, *args, **kwargs):
            if request.user.is_authenticated and not self.has_permission(request):
                raise PermissionDenied
            return wrapped(request, *args, **kwargs)

        return update_wrapper(checked, wrapped)

    def login(self, request, extra_context=None):
        """Send visitors to the site's own sign-in page, which journals logins.

        A signed-in user without an admin role gets 403 instead of a form.
        """
        if request.user.is_authenticated:
            raise PermissionDenied
        next_url = request.GET.get("next") or reverse("admin:index")
        return redirect(f"{reverse('web:login')}?{urlencode({'next': next_url})}")


site = ConfigurationSite(name="admin")


class ServiceCheckedForm(forms.ModelForm):
    """A model form that runs the service layer's check on the built instance."""

    def service_check(self, instance) -> None:
        raise NotImplementedError

    def _post_clean(self):
        super()._post_clean()
        if self.errors:
            return
        try:
            self.service_check(self.instance)
        except ValidationFailed as failure:
            field = failure.field if failure.field in self.fields else None
            self.add_error(field, failure.message)


class RoleAdmin(admin.ModelAdmin):
    """Model pages open to the roles that `may_edit` accepts."""

    def may_edit(self, user) -> bool:
        return configuration.can_configure(user)

    def has_module_permission(self, request) -> bool:
        return self.may_edit(request.user)

    def has_view_permission(self, request, obj=None) -> bool:
        return self.may_edit(request.user)

    def has_add_permission(self, request) -> bool:
        return self.may_edit(request.user)

    def has_change_permission(self, request, obj=None) -> bool:
        return self.may_edit(request.user)

    def has_delete_permission(self, request, obj=None) -> bool:
        return self.may_edit(request.user)

    def delete_queryset(self, request, queryset):
        for row in queryset:
            self.delete_model(request, row)


# -- routing rules


class RoutingRuleForm(ServiceCheckedForm):
    class Meta:
        model = RoutingRule
        fields = ["priority", "service", "district", "keywords", "department"]
        fields += ["is_active"]
        labels = {
            "priority": _("Приоритет (меньше — раньше)"),
            "service": _("Услуга"),
            "district": _("Район"),
            "keywords": _("Ключевые слова через запятую"),
            "department": _("Отдел"),
            "is_active": _("Действует"),
        }

    def service_check(self, instance) -> None:
        configuration.check_routing_rule(instance)


@admin.register(RoutingRule, site=site)
class RoutingRuleAdmin(RoleAdmin):
    form = RoutingRuleForm
    list_display = ["priority", "department", "service", "district", "keywords"]
    list_display += ["is_active"]
    list_display_links = ["department"]
    # The order in which rules are tried is edited right in the list.
    list_editable = ["priority", "is_active"]
    ordering = ["priority", "id"]

    def get_changelist_form(self, request, **kwargs):
        kwargs.setdefault("form", RoutingRuleForm)
        return super().get_changelist_form(request, **kwargs)

    def save_model(self, request, obj, form, change):
        configuration.save_routing_rule(request.user, obj)

    def delete_model(self, request, obj):
        configuration.delete_routing_rule(request.user, obj)


# -- department calendars

DAY_FIELDS = [
    ("monday", _("Понедельник")),
    ("tuesday", _("Вторник")),
    ("wednesday", _("Среда")),
    ("thursday", _("Четверг")),
    ("friday", _("Пятница")),
    ("saturday", _("Суббота")),
    ("sunday", _("Воскресенье")),
]
DEFAULT_WEEK = [["09:00", "18:00"]] * 5 + [None, None]
HOURS_HELP = _("Часы работы, например 09:00-18:00; пусто — выходной.")
DATES_HELP = _("Даты в формате 2026-05-09, по одной в строке.")


def _hours_field(label) -> forms.CharField:
    return forms.CharField(label=label, help_text=HOURS_HELP, required=False)


class DepartmentCalendarForm(ServiceCheckedForm):
    """The calendar with one field per weekday and the dates as lines of text."""

    time_zone = forms.ChoiceField(label=_("Часовой пояс"))
    monday = _hours_field(DAY_FIELDS[0][1])
    tuesday = _hours_field(DAY_FIELDS[1][1])
    wednesday = _hours_field(DAY_FIELDS[2][1])
    thursday = _hours_field(DAY_FIELDS[3][1])
    friday = _hours_field(DAY_FIELDS[4][1])
    saturday = _hours_field(DAY_FIELDS[5][1])
    sunday = _hours_field(DAY_FIELDS[6][1])
    extra_working_days = forms.CharField(
        label=_("Перенесённые рабочие дни"),
        help_text=DATES_HELP,
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
    )
    extra_days_off = forms.CharField(
        label=_("Нерабочие дни"),
        help_text=DATES_HELP,
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
    )

    class Meta:
        model = DepartmentCalendar
        fields = ["department", "time_zone"]
        labels = {"department": _("Отдел")}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["time_zone"].choices = [(name, name) for name in time_zone_names()]
        # A new calendar starts from the default five-day week.
        week = self.instance.week if self.instance.pk else DEFAULT_WEEK
        for (name, _label), hours in zip(DAY_FIELDS, week, strict=True):
            self.initial.setdefault(name, "-".join(hours) if hours else "")
        if self.instance.pk:
            for name in ("extra_working_days", "extra_days_off"):
                self.initial[name] = "\n".join(getattr(self.instance, name))

    def clean(self):
        cleaned = super().clean()
        try:
            self.instance.week = [
                configuration.parse_hours(cleaned.get(name, ""), field=name)
                for name, _label in DAY_FIELDS
            ]
            # The model form copies these into the instance's JSON fields.
            for name in ("extra_working_days", "extra_days_off"):
                cleaned[name] = configuration.parse_dates(
                    cleaned.get(name, ""), field=name
                )
        except ValidationFailed as failure:
            self.add_error(failure.field, failure.message)
        return cleaned

    def service_check(self, instance) -> None:
        try:
            configuration.check_calendar(instance)
        except ValidationFailed as failure:
            if failure.field == "week":
                raise ValidationFailed(failure.message, field="monday") from failure
            raise


@admin.register(DepartmentCalendar, site=site)
class DepartmentCalendarAdmin(RoleAdmin):
    form = DepartmentCalendarForm
    list_display = ["department", "time_zone"]
    fieldsets = [
        (None, {"fields": ["department", "time_zone"]}),
        (_("Рабочая неделя"), {"fields": [name for name, _label in DAY_FIELDS]}),
        (
            _("Переносы и нерабочие дни"),
            {"fields": ["extra_working_days", "extra_days_off"]},
        ),
    ]

    def save_model(self, request, obj, form, change):
        configuration.save_calendar(request.user, obj)

    def delete_model(self, request, obj):
        configuration.delete_calendar(request.user, obj)


# -- service targets


class ServiceTargetForm(ServiceCheckedForm):
    class Meta:
        model = ServiceTarget
        fields = ["service", "name", "amount", "unit"]
        labels = {
            "service": _("Услуга"),
            "name": _("Срок"),
            "amount": _("Количество"),
            "unit": _("Единица"),
        }

    def service_check(self, instance) -> None:
        configuration.check_target(instance)


@admin.register(ServiceTarget, site=site)
class ServiceTargetAdmin(RoleAdmin):
    form = ServiceTargetForm
    list_display = ["service", "name", "amount", "unit"]
    list_filter = ["name", "unit"]

    def save_model(self, request, obj, form, change):
        configuration.save_target(request.user, obj)

    def delete_model(self, request, obj):
        configuration.delete_target(request.user, obj)


# -- answer templates


VARIABLE_LIST = ", ".join(f"{{{name}}}" for name in answer_templates.VARIABLES)


class AnswerTemplateForm(ServiceCheckedForm):
    class Meta:
        model = AnswerTemplate
        fields = ["code", "title", "body_ru", "body_en", "service", "department"]
        labels = {
            "code": _("Код"),
            "title": _("Название"),
            "body_ru": _("Текст на русском"),
            "body_en": _("Текст на английском"),
            "service": _("Услуга"),
            "department": _("Отдел"),
        }
        help_texts = {
            "body_ru": format_lazy(
                "{} {}", _("Переменные в фигурных скобках:"), VARIABLE_LIST
            ),
        }

    def service_check(self, instance) -> None:
        # The same rendering as the operator's insertion, with empty values.
        values = dict.fromkeys(answer_templates.VARIABLES, "")
        for field in ("body_ru", "body_en"):
            answer_templates.render(getattr(instance, field), values, field=field)


@admin.register(AnswerTemplate, site=site)
class AnswerTemplateAdmin(RoleAdmin):
    form = AnswerTemplateForm
    list_display = ["code", "title", "service", "department", "is_active"]

    def may_edit(self, user) -> bool:
        return answer_templates.can_edit_templates(user)

    def has_delete_permission(self, request, obj=None) -> bool:
        # Templates are kept for the record; none is deleted.
        return False

    def get_readonly_fields(self, request, obj=None):
        return ["code"] if obj is not None else []

    def save_model(self, request, obj, form, change):
        saved = answer_templates.save_template(
            request.user,
            code=obj.code,
            title=obj.title,
            body_ru=obj.body_ru,
            body_en=obj.body_en or "",
            service=obj.service,
            department=obj.department,
        )
        obj.pk = saved.pk
