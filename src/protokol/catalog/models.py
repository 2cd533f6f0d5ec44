"""Services: the request types a citizen can choose and their regulation deadlines."""

from functools import cached_property

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
    # The data fields the service collects, as catalog/fields.py describes.
    data_fields = models.JSONField(default=list, blank=True)
    deadline_days = models.PositiveIntegerField(default=30)
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"

    @cached_property
    def fields(self):
        """Return the parsed definitions of `data_fields`."""
        from protokol.catalog.fields import parse_definitions

        return parse_definitions(self.data_fields)

    def field(self, name: str):
        """Return the definition of the field called `name`, or None."""
        return next((d for d in self.fields if d.name == name), None)

    @property
    def value_fields(self):
        """Return the fields whose values are collected as data (all but files)."""
        return [d for d in self.fields if not d.is_file]

    @property
    def required_fields(self) -> list[str]:
        """Return the names of the value fields a citizen must give."""
        return [d.name for d in self.value_fields if d.required]
