"""Abstract models of encrypted personal-data records and their HMAC index."""

from django.db import models


class EncryptedRecord(models.Model):
    """A set of personal-data values stored only as AES-256-GCM ciphertext.

    The values are one JSON object encrypted under the record's own data key,
    which is stored wrapped under the master key `encryption_key_id` (see
    consultations/encryption.py). `fields` names the values given, never
    the values themselves.
    """

    fields = models.JSONField(default=list)
    encryption_key_id = models.CharField(max_length=16)
    wrapped_key = models.BinaryField()
    wrap_nonce = models.BinaryField()
    content_nonce = models.BinaryField()
    ciphertext = models.BinaryField()
    updated_at = models.DateTimeField()

    class Meta:
        abstract = True


class IndexEntry(models.Model):
    """The HMAC-SHA256 of one normalised value, for exact-match lookup.

    `digest` is keyed with the index key (personal/records.py), so a copy of
    the database alone cannot confirm a guessed value.
    """

    field = models.CharField(max_length=64)
    digest = models.CharField(max_length=64, db_index=True)

    class Meta:
        abstract = True
