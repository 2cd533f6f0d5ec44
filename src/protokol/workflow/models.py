"""Configuration of the workflow: routing rules, calendars and targets."""

from django.db import models
from django.utils.translation import gettext_lazy as _

from protokol.accounts.models import Department
from protokol.catalog.models import Service
from protokol.workflow.sla import Unit


class RoutingRule(models.Model):
    """A condition on new consultations and the department that gets them.

    Rules are tried by ascending priority; the first whose every non-empty
    condition matches wins. Keywords are comma-separated and match when any
    of them occurs, ignoring case, in the subject or the description.
    """

    priority = models.PositiveIntegerField()
    service = models.ForeignKey(
        Service, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    district = models.CharField(max_length=100, blank=True)
    keywords = models.CharField(max_length=500, blank=True)
    department = models.ForeignKey(
        Department, on_delete=models.PROTECT, related_name="routing_rules"
    )
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["priority", "id"]

    def keyword_list(self) -> list[str]:
        """Return the rule's keywords, case-folded and without blanks."""
        return [k.strip().casefold() for k in self.keywords.split(",") if k.strip()]


class DepartmentCalendar(models.Model):
    """Working time of one department; departments without one use the default."""

    department = models.OneToOneField(
        Department, on_delete=models.CASCADE, related_name="calendar"
    )
    time_zone = models.CharField(max_length=64, default="Europe/Moscow")
    # Seven entries, Monday first: ["09:00", "18:00"] or null for a day off.
    week = models.JSONField()
    # ISO dates: weekend days worked in exchange, and local closures.
    extra_working_days = models.JSONField(default=list, blank=True)
    extra_days_off = models.JSONField(default=list, blank=True)


class ServiceTarget(models.Model):
    """A regulation target of a service, overriding the default of its name."""

    class Name(models.TextChoices):
        REGISTRATION = "registration", _("Регистрация")
        FIRST_RESPONSE = "first_response", _("Первый ответ")
        ANSWER = "answer", _("Ответ по существу")

    service = models.ForeignKey(
        Service, on_delete=models.CASCADE, related_name="targets"
    )
    name = models.CharField(max_length=32, choices=Name.choices)
    amount = models.PositiveIntegerField()
    unit = models.CharField(
        max_length=16, choices=[(unit.value, unit.value) for unit in Unit]
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["service", "name"], name="one_target_per_service_and_name"
            )
        ]


class AnswerTemplate(models.Model):
    """A reusable answer with {variables}, for one service, one department or all.

    The variables are listed in workflow/answer_templates.py; saving checks
    that the text uses no other names.
    """

    code = models.CharField(max_length=64, unique=True)
    title = models.CharField(max_length=200)
    body_ru = models.TextField()
    body_en = models.TextField(blank=True)
    service = models.ForeignKey(
        Service, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    department = models.ForeignKey(
        Department, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    is_active = models.BooleanField(default=True)
    updated_at = models.DateTimeField()

    class Meta:
        ordering = ["title", "id"]


class Presence(models.Model):
    """The last moment a signed-in user had a consultation page open.

    Live pages refresh it every few seconds; rows older than a minute mean
    the page is closed. It is not journaled, because page reads already are.
    """

    user = models.ForeignKey(
        "accounts.User", on_delete=models.CASCADE, related_name="+"
    )
    consultation = models.ForeignKey(
        "consultations.Consultation", on_delete=models.CASCADE, related_name="+"
    )
    seen_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user", "consultation"], name="one_presence_per_page"
            )
        ]
        indexes = [models.Index(fields=["consultation", "seen_at"])]
