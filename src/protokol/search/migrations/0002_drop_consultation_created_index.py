"""Drop the consultations index that migration 0001 created on PostgreSQL.

Consultation.Meta.indexes declares it now, and consultations migration 0006
creates it on both databases, so that SQLite's table rebuilds keep it too.
Dropping it first leaves a single index of that name.
"""

from django.db import migrations

CREATE = (
    "CREATE INDEX IF NOT EXISTS consultation_created_id_desc "
    "ON consultations_consultation (created_at DESC, id DESC);"
)


def drop(apps, schema_editor):
    schema_editor.execute("DROP INDEX IF EXISTS consultation_created_id_desc;")


def restore(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE)


class Migration(migrations.Migration):
    dependencies = [
        ("search", "0001_search_document_and_indexes"),
        ("consultations", "0005_data_requests"),
    ]

    operations = [migrations.RunPython(drop, restore)]
