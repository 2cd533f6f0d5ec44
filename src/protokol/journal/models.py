"""The operations journal: append-only entries, each with its RFC 6962 leaf hash.

An entry of format 2 keeps its personal data in a JournalPayload row, which
redaction may delete; see protokol.journal.canonical.
"""

from django.db import models
from django.utils.translation import gettext_lazy as _


class JournalAction(models.TextChoices):
    CONSULTATION_CREATE = "consultation:create", _("создание консультации")
    CONSULTATION_READ = "consultation:read", _("просмотр консультации")
    CONSULTATION_LIST = "consultation:list", _("просмотр списка")
    CONSULTATION_TRANSITION = "consultation:transition", _("смена статуса")
    CONSULTATION_FORWARD = "consultation:forward", _("переадресация")
    CONSULTATION_EXTEND = "consultation:extend", _("продление срока")
    CONSULTATION_IMPORT = "consultation:import", _("импорт обращения")
    MESSAGE_CREATE = "message:create", _("сообщение")
    ATTACHMENT_CREATE = "attachment:create", _("загрузка файла")
    ATTACHMENT_READ = "attachment:read", _("скачивание файла")
    PROTOCOL_SAVE = "protocol:save", _("сохранение протокола")
    PROTOCOL_ADDENDUM = "protocol:addendum", _("дополнение к протоколу")
    COPY_READ = "copy:read", _("выдача копии PDF")
    JOURNAL_READ = "journal:read", _("просмотр журнала")
    PERSONAL_DATA_READ = "personal_data:read", _("просмотр персональных данных")
    PERSONAL_DATA_UPDATE = "personal_data:update", _("изменение персональных данных")
    PERSONAL_DATA_LOOKUP = "personal_data:lookup", _("поиск по персональным данным")
    ACCESS_DENIED = "access:denied", _("отказ в доступе")
    SECURITY_ALERT = "security:alert", _("тревога безопасности")
    PROTOCOL_ACKNOWLEDGE = "protocol:acknowledge", _("ознакомление с протоколом")
    USER_LOGIN = "user:login", _("вход")
    USER_LOGIN_FAILED = "user:login_failed", _("неудачный вход")
    USER_CREATE = "user:create", _("создание учётной записи")
    TOKEN_CREATE = "token:create", _("выдача токена API")
    DEPARTMENT_CREATE = "department:create", _("создание отдела")
    SERVICE_CREATE = "service:create", _("создание услуги")
    TEMPLATE_SAVE = "template:save", _("сохранение шаблона ответа")
    JOURNAL_REDACT = "journal:redact", _("удаление персональных данных из журнала")
    DISPUTE_OPEN = "dispute:open", _("открытие спора")
    DISPUTE_READ = "dispute:read", _("просмотр спора")
    DISPUTE_LIST = "dispute:list", _("просмотр списка споров")
    DISPUTE_ASSIGN = "dispute:assign", _("назначение эксперта")
    DISPUTE_CONCLUSION = "dispute:conclusion", _("заключение эксперта")
    DISPUTE_CLOSE = "dispute:close", _("завершение спора")
    RETENTION_POLICY = "retention:policy", _("изменение срока хранения")
    RETENTION_HOLD = "retention:hold", _("установка запрета на удаление")
    RETENTION_HOLD_LIFT = "retention:hold_lift", _("снятие запрета на удаление")
    RETENTION_GRANT = "retention:grant", _("выдача доступа к архиву")
    RETENTION_GRANT_REVOKE = "retention:grant_revoke", _("отзыв доступа к архиву")
    RETENTION_DELETE = "retention:delete", _("удаление по сроку хранения")
    RETENTION_ARCHIVE = "retention:archive", _("перенос в архив по сроку хранения")
    RETENTION_ERASURE = "retention:erasure", _("удаление персональных данных")
    RETENTION_REQUESTS_READ = (
        "retention:requests_read",
        _("просмотр запросов на удаление"),
    )
    RETENTION_EXPORT = "retention:export", _("выгрузка данных гражданина")
    PROFILE_UPDATE = "profile:update", _("изменение профиля")
    WEBHOOK_CREATE = "webhook:create", _("создание веб-хука")
    WEBHOOK_DELETE = "webhook:delete", _("удаление веб-хука")
    ROUTING_RULE_SAVE = "routing_rule:save", _("сохранение правила маршрутизации")
    ROUTING_RULE_DELETE = "routing_rule:delete", _("удаление правила маршрутизации")
    CALENDAR_SAVE = "calendar:save", _("сохранение календаря")
    CALENDAR_DELETE = "calendar:delete", _("удаление календаря")
    SERVICE_TARGET_SAVE = "service_target:save", _("сохранение целевого срока")
    SERVICE_TARGET_DELETE = "service_target:delete", _("удаление целевого срока")


class JournalEntry(models.Model):
    """One journaled operation; database triggers reject UPDATE and DELETE."""

    # Position in the log, gapless from 0, so a Merkle tree can be built over it.
    index = models.BigIntegerField(primary_key=True)
    created_at = models.DateTimeField()
    action = models.CharField(max_length=48, choices=JournalAction.choices)
    actor_id = models.BigIntegerField(null=True, blank=True)
    actor_name = models.CharField(max_length=300)
    actor_role = models.CharField(max_length=16)
    object_type = models.CharField(max_length=32)
    object_id = models.CharField(max_length=64)
    object_label = models.CharField(max_length=300)
    consultation_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    request_id = models.CharField(max_length=64, blank=True)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    # SHA-256(0x00 || canonical entry), hex; see protokol.journal.canonical.
    leaf_hash = models.CharField(max_length=64)
    # 1: the leaf hash covers every field above. 2: actor_name and
    # object_label are empty, `before`/`after` lack the payload members, and
    # the leaf hash covers payload_hash instead, the SHA-256 of the salted
    # JournalPayload.
    format = models.SmallIntegerField(db_default=1)
    payload_hash = models.CharField(max_length=64, db_default="")

    class Meta:
        db_table = "journal_entry"
        ordering = ["index"]
        verbose_name_plural = "journal entries"
        indexes = [models.Index(fields=["actor_id", "action"])]


class JournalPayload(models.Model):
    """The erasable personal data of a format 2 entry.

    It is the one journal table that allows DELETE. Its trigger lets a row go
    only while the latest entry is a `journal:redact` entry naming it (see
    services.redact), and rejects UPDATE.
    """

    entry = models.OneToOneField(
        JournalEntry,
        primary_key=True,
        db_column="index",
        # No foreign key constraint: its deferred check would queue trigger
        # events in each appending transaction, and entries are never deleted.
        db_constraint=False,
        on_delete=models.DO_NOTHING,
        related_name="payload",
    )
    # 16 random bytes, so that a short payload cannot be confirmed by hashing
    # guesses against the entry's payload_hash.
    salt = models.BinaryField()
    # {"actor_name", "object_label", "before", "after"}: see canonical.payload_body.
    body = models.JSONField()

    class Meta:
        db_table = "journal_payload"


class MerkleNode(models.Model):
    """The hash of one perfect subtree of the journal's RFC 6962 Merkle tree.

    Node (level, index) covers the 2**level leaves starting at index * 2**level;
    level 0 repeats the entries' leaf hashes. `record()` inserts each node in the
    transaction that completes its subtree, and triggers reject UPDATE and DELETE.
    """

    pk = models.CompositePrimaryKey("level", "index")
    level = models.SmallIntegerField()
    index = models.BigIntegerField()
    # SHA-256, hex: the leaf hash on level 0, SHA-256(0x01 || left || right) above.
    hash = models.CharField(max_length=64)

    class Meta:
        db_table = "journal_merkle_node"


class Checkpoint(models.Model):
    """A signed tree head: a C2SP tlog-checkpoint note over the tree at `size`."""

    created_at = models.DateTimeField()
    size = models.BigIntegerField(db_index=True)
    # Root hash of the first `size` entries, hex.
    root_hash = models.CharField(max_length=64)
    origin = models.CharField(max_length=200)
    key_name = models.CharField(max_length=200)
    # The whole signed note, body and signature lines, exactly as served.
    note = models.TextField()
    # DER RFC 3161 timestamp token over SHA-256 of the note's UTF-8 bytes;
    # null when the TSA could not be reached when the checkpoint was issued.
    timestamp_token = models.BinaryField(null=True, blank=True)

    class Meta:
        db_table = "journal_checkpoint"
        ordering = ["id"]
