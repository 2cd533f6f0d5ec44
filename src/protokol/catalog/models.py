"""Services: the request types a citizen can choose and their regulation deadlines."""

from django.db import models

from protokol.accounts.models import Department


class Service(models.Model):
    """A request type with the department that answers it and its deadline."""

    code = models.CharField(max_length=64, unique=True)
    name = models.CharField(max_length=300)
    name_en = models.CharField(max_length=300, blank=True)
    department = models.ForeignKey(
        Department, on_delete=models.PROTECT, related_name="services"
    )
    # Names of the data fields a citizen must give, for example ["passport"].
    required_fields = models.JSONField(default=list, blank=True)
    deadline_days = models.PositiveIntegerField(default=30)
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"
