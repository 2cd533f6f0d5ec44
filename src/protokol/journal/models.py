"""The operations journal: append-only entries, each with its RFC 6962 leaf hash."""

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

    class Meta:
        db_table = "journal_entry"
        ordering = ["index"]
        verbose_name_plural = "journal entries"
        indexes = [models.Index(fields=["actor_id", "action"])]


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
