"""Entry format 2: the payload table, its triggers, the format columns, new actions.

Format 2 entries keep their personal data in journal_payload, whose rows
may be deleted only while the latest entry is a `journal:redact` entry
naming them (protokol.journal.services.redact). UPDATE, and on PostgreSQL
TRUNCATE, stay rejected. The two columns of journal_entry are added with
ALTER TABLE ADD COLUMN and a constant default, as Django would rebuild the
SQLite table and lose its append-only triggers.
"""

import django.db.models.deletion
from django.db import migrations, models

ADD_COLUMNS = [
    'ALTER TABLE journal_entry ADD COLUMN "format" smallint NOT NULL DEFAULT 1;',
    "ALTER TABLE journal_entry ADD COLUMN payload_hash varchar(64) NOT NULL "
    "DEFAULT '';",
]
DROP_COLUMNS = [
    'ALTER TABLE journal_entry DROP COLUMN "format";',
    "ALTER TABLE journal_entry DROP COLUMN payload_hash;",
]

REDACT_ACTION = "journal:redact"

SQLITE_UP = [
    """
    CREATE TRIGGER journal_payload_no_update BEFORE UPDATE ON journal_payload
    BEGIN SELECT RAISE(ABORT, 'journal_payload rows cannot be changed'); END;
    """,
    f"""
    CREATE TRIGGER journal_payload_delete_redacted BEFORE DELETE ON journal_payload
    WHEN NOT EXISTS (
        SELECT 1
        FROM (
            SELECT action, after FROM journal_entry ORDER BY "index" DESC LIMIT 1
        ) AS latest, json_each(latest.after, '$.indexes') AS named
        WHERE latest.action = '{REDACT_ACTION}' AND named.value = OLD."index"
    )
    BEGIN
        SELECT RAISE(
            ABORT, 'journal_payload rows are deleted only by a journal:redact entry'
        );
    END;
    """,
]
SQLITE_DOWN = [
    "DROP TRIGGER IF EXISTS journal_payload_no_update;",
    "DROP TRIGGER IF EXISTS journal_payload_delete_redacted;",
]

POSTGRESQL_UP = [
    f"""
    CREATE FUNCTION journal_payload_check_change() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'DELETE' THEN
            IF EXISTS (
                SELECT 1 FROM (
                    SELECT action, after FROM journal_entry
                    ORDER BY "index" DESC LIMIT 1
                ) AS latest
                WHERE latest.action = '{REDACT_ACTION}'
                AND latest.after -> 'indexes' @> to_jsonb(OLD."index")
            ) THEN
                RETURN OLD;
            END IF;
        END IF;
        RAISE EXCEPTION 'journal_payload: % rejected, only a journal:redact entry deletes rows', TG_OP
            USING ERRCODE = 'insufficient_privilege';
    END;
    $$;
    """,
    """
    CREATE TRIGGER journal_payload_no_update_delete
    BEFORE UPDATE OR DELETE ON journal_payload
    FOR EACH ROW EXECUTE FUNCTION journal_payload_check_change();
    """,
    """
    CREATE TRIGGER journal_payload_no_truncate
    BEFORE TRUNCATE ON journal_payload
    FOR EACH STATEMENT EXECUTE FUNCTION journal_payload_check_change();
    """,
]
POSTGRESQL_DOWN = [
    "DROP TRIGGER IF EXISTS journal_payload_no_truncate ON journal_payload;",
    "DROP TRIGGER IF EXISTS journal_payload_no_update_delete ON journal_payload;",
    "DROP FUNCTION IF EXISTS journal_payload_check_change();",
]

STATEMENTS = {
    "sqlite": (SQLITE_UP, SQLITE_DOWN),
    "postgresql": (POSTGRESQL_UP, POSTGRESQL_DOWN),
}


def _run(schema_editor, statements: list[str]) -> None:
    for statement in statements:
        # No parameters, so the PL/pgSQL format string keeps its literal %.
        schema_editor.execute(statement, params=None)


def _triggers(schema_editor, which: int) -> list[str]:
    vendor = schema_editor.connection.vendor
    if vendor not in STATEMENTS:
        raise RuntimeError(f"No payload triggers written for database '{vendor}'.")
    return STATEMENTS[vendor][which]


def add_columns(apps, schema_editor):
    _run(schema_editor, ADD_COLUMNS)


def drop_columns(apps, schema_editor):
    _run(schema_editor, DROP_COLUMNS)


def install_triggers(apps, schema_editor):
    _run(schema_editor, _triggers(schema_editor, 0))


def remove_triggers(apps, schema_editor):
    _run(schema_editor, _triggers(schema_editor, 1))


class Migration(migrations.Migration):
    dependencies = [("journal", "0006_checkpoint_timestamp")]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunPython(add_columns, drop_columns)],
            state_operations=[
                migrations.AddField(
                    model_name="journalentry",
                    name="format",
                    field=models.SmallIntegerField(db_default=1),
                ),
                migrations.AddField(
                    model_name="journalentry",
                    name="payload_hash",
                    field=models.CharField(db_default="", max_length=64),
                ),
            ],
        ),
        migrations.CreateModel(
            name="JournalPayload",
            fields=[
                (
                    "entry",
                    models.OneToOneField(
                        db_column="index",
                        db_constraint=False,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        primary_key=True,
                        related_name="payload",
                        serialize=False,
                        to="journal.journalentry",
                    ),
                ),
                ("salt", models.BinaryField()),
                ("body", models.JSONField()),
            ],
            options={
                "db_table": "journal_payload",
            },
        ),
        migrations.AlterField(
            model_name="journalentry",
            name="action",
            field=models.CharField(
                choices=[
                    ("consultation:create", "создание консультации"),
                    ("consultation:read", "просмотр консультации"),
                    ("consultation:list", "просмотр списка"),
                    ("consultation:transition", "смена статуса"),
                    ("consultation:forward", "переадресация"),
                    ("consultation:extend", "продление срока"),
                    ("consultation:import", "импорт обращения"),
                    ("message:create", "сообщение"),
                    ("attachment:create", "загрузка файла"),
                    ("attachment:read", "скачивание файла"),
                    ("protocol:save", "сохранение протокола"),
                    ("protocol:addendum", "дополнение к протоколу"),
                    ("copy:read", "выдача копии PDF"),
                    ("journal:read", "просмотр журнала"),
                    ("personal_data:read", "просмотр персональных данных"),
                    ("personal_data:update", "изменение персональных данных"),
                    ("personal_data:lookup", "поиск по персональным данным"),
                    ("access:denied", "отказ в доступе"),
                    ("security:alert", "тревога безопасности"),
                    ("protocol:acknowledge", "ознакомление с протоколом"),
                    ("user:login", "вход"),
                    ("user:login_failed", "неудачный вход"),
                    ("user:create", "создание учётной записи"),
                    ("token:create", "выдача токена API"),
                    ("department:create", "создание отдела"),
                    ("service:create", "создание услуги"),
                    ("template:save", "сохранение шаблона ответа"),
                    ("journal:redact", "удаление персональных данных из журнала"),
                    ("dispute:open", "открытие спора"),
                    ("dispute:read", "просмотр спора"),
                    ("dispute:list", "просмотр списка споров"),
                    ("dispute:assign", "назначение эксперта"),
                    ("dispute:conclusion", "заключение эксперта"),
                    ("dispute:close", "завершение спора"),
                    ("retention:policy", "изменение срока хранения"),
                    ("retention:hold", "установка запрета на удаление"),
                    ("retention:hold_lift", "снятие запрета на удаление"),
                    ("retention:grant", "выдача доступа к архиву"),
                    ("retention:grant_revoke", "отзыв доступа к архиву"),
                    ("retention:delete", "удаление по сроку хранения"),
                    ("retention:archive", "перенос в архив по сроку хранения"),
                    ("retention:erasure", "удаление персональных данных"),
                    ("retention:requests_read", "просмотр запросов на удаление"),
                    ("retention:export", "выгрузка данных гражданина"),
                    ("profile:update", "изменение профиля"),
                    ("webhook:create", "создание веб-хука"),
                    ("webhook:delete", "удаление веб-хука"),
                    ("routing_rule:save", "сохранение правила маршрутизации"),
                    ("routing_rule:delete", "удаление правила маршрутизации"),
                    ("calendar:save", "сохранение календаря"),
                    ("calendar:delete", "удаление календаря"),
                    ("service_target:save", "сохранение целевого срока"),
                    ("service_target:delete", "удаление целевого срока"),
                ],
                max_length=48,
            ),
        ),
        migrations.RunPython(install_triggers, remove_triggers),
    ]
