"""Replace the names in Service.required_fields by structured data_fields."""

from django.db import migrations, models

# The field types of catalog/fields.py at the time of this migration.
KNOWN_TYPES = {"passport", "inn", "snils", "ogrn", "phone", "email", "date"}


def names_to_definitions(apps, schema_editor):
    Service = apps.get_model("catalog", "Service")
    for service in Service.objects.all():
        service.data_fields = [
            {
                "name": name,
                "type": name if name in KNOWN_TYPES else "text",
                "label": "",
                "label_en": "",
                "required": True,
                "help": "",
                "help_en": "",
                "choices": [],
            }
            for name in service.required_fields or []
        ]
        service.save(update_fields=["data_fields"])


def definitions_to_names(apps, schema_editor):
    Service = apps.get_model("catalog", "Service")
    for service in Service.objects.all():
        service.required_fields = [
            field["name"]
            for field in service.data_fields or []
            if field.get("type") != "file"
        ]
        service.save(update_fields=["required_fields"])


class Migration(migrations.Migration):
    dependencies = [
        ("catalog", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="service",
            name="data_fields",
            field=models.JSONField(blank=True, default=list),
        ),
        migrations.RunPython(names_to_definitions, definitions_to_names),
        migrations.RemoveField(
            model_name="service",
            name="required_fields",
        ),
    ]
