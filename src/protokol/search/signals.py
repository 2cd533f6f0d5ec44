"""Keep search documents current when consultations, messages or protocols are saved.

The services create rows with Model.objects.create, which sends post_save, so
no service calls the index itself. A new message is appended to the
document; any other change rebuilds it. Paths that bulk-insert (the appeals
import and the generator) call indexing.index_consultations after their
inserts.
"""

from django.db.models.signals import post_save

from protokol.search.indexing import (
    append_message,
    index_consultations,
    index_new_consultation,
)

# Consultation fields that the search document contains.
INDEXED_FIELDS = frozenset({"number", "subject", "description"})


def connect() -> None:
    """Connect the handlers; called once from SearchConfig.ready()."""
    from protokol.consultations.models import Consultation, Message
    from protokol.protocols.models import ProtocolVersion

    post_save.connect(
        _consultation_saved, sender=Consultation, dispatch_uid="search_consultation"
    )
    post_save.connect(_message_saved, sender=Message, dispatch_uid="search_message")
    post_save.connect(
        _child_saved, sender=ProtocolVersion, dispatch_uid="search_protocol"
    )


def _consultation_saved(sender, instance, created, update_fields=None, **kwargs):
    if kwargs.get("raw"):
        return
    if created:
        index_new_consultation(instance)
        return
    changed = set(update_fields) if update_fields is not None else INDEXED_FIELDS
    if INDEXED_FIELDS & changed:
        index_consultations([instance.pk])


def _child_saved(sender, instance, **kwargs):
    if kwargs.get("raw"):
        return
    index_consultations([instance.consultation_id])


def _message_saved(sender, instance, created, **kwargs):
    if kwargs.get("raw"):
        return
    if created:
        append_message(instance.consultation_id, instance.text, instance.visibility)
    else:
        index_consultations([instance.consultation_id])
