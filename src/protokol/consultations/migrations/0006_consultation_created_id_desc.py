"""Declare the index of consultations by creation time in the model.

Search migration 0002 drops the copy that search migration 0001 created on
PostgreSQL before this one creates it on every database.
"""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("consultations", "0005_data_requests"),
        ("search", "0002_drop_consultation_created_index"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="consultation",
            index=models.Index(
                fields=["-created_at", "-id"], name="consultation_created_id_desc"
            ),
        ),
    ]
