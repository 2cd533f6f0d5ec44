"""A citizen's erasure request: anonymise the person, keep what the law requires.

The account is kept without a name, e-mail address, login name, password or
identifiers, and deactivated. Consultations stay until their retention
period ends. The journal entries naming the person lose their payloads (name,
login name, comments) while their leaf hashes stay. The response lists each
kept record with the reason and the date until which it is kept.
"""

import structlog
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext

from protokol.accounts.models import ApiToken, CitizenIdentifiers, Role, User
from protokol.consultations.lifecycle import CLOSED_STATUSES
from protokol.consultations.models import Consultation, Message, Transition
from protokol.errors import PermissionDenied, ValidationFailed
from protokol.journal import services as journal
from protokol.journal.canonical import FORMAT_HEADER
from protokol.journal.models import JournalAction, JournalEntry
from protokol.retention import policy
from protokol.retention.models import Disposal, EndAction, ErasureRequest
from protokol.retention.services import READER_ROLES
from protokol.signing.models import Signature, SignatureKind

log = structlog.get_logger(__name__)

ERASURE_ACTION = JournalAction.RETENTION_ERASURE


def pseudonym_of(user) -> str:
    """Return the login name an erased account keeps, free of personal data."""
    return f"erased-{user.pk}"


def _kept_consultation(consultation, archived: dict[int, Disposal]) -> dict:
    """Describe why one consultation is kept and until when."""
    item = {
        "number": consultation.number,
        "status": consultation.status,
        "until": None,
    }
    rule = policy.rule_for(consultation.service_id)
    disposal = archived.get(consultation.pk)
    if disposal is not None:
        item["reason"] = gettext(
            "Moved on %(date)s to the restricted archive by the retention policy "
            "of its service; kept there permanently and visible only to "
            "auditors and administrators with a grant."
        ) % {"date": disposal.disposed_at.date().isoformat()}
        return item
    if consultation.status not in CLOSED_STATUSES:
        item["reason"] = gettext(
            "The consultation is not closed. Its protocol, dialogue and files are "
            "kept until it is closed and then for %(years)d years, the retention "
            "period of its service's protocols."
        ) % {"years": rule.years}
        return item

    until = policy.kept_until(consultation)
    if until is None:
        item["reason"] = gettext(
            "The consultation is under a legal hold, which stops its retention "
            "period; it is kept at least until the hold is lifted and then for "
            "the rest of its %(years)d years."
        ) % {"years": rule.years}
        return item
    item["until"] = until.isoformat()
    item["reason"] = gettext(
        "The protocol of a closed consultation is kept for %(years)d years after "
        "closing, the retention period of its service; after %(date)s it is "
        "%(end)s."
    ) % {
        "years": rule.years,
        "date": until.date().isoformat(),
        "end": gettext("deleted")
        if rule.end_action == EndAction.DELETE
        else gettext("moved to the restricted archive"),
    }
    return item


def _journal_entries_naming(user) -> tuple[list[int], int]:
    """Find the journal entries whose actor or object is `user` or name their login.

    Returns the indexes of format 2 entries, whose payloads can be redacted,
    and the count of format 1 entries, which keep their text.
    """
    about_user = (
        Q(actor_id=user.pk)
        | Q(object_type="user", object_id=str(user.pk))
        | Q(object_label=user.username)
    )
    redactable = list(
        JournalEntry.objects.filter(format=FORMAT_HEADER)
        .filter(about_user | Q(payload__body__object_label=user.username))
        .values_list("index", flat=True)
    )
    kept = JournalEntry.objects.exclude(format=FORMAT_HEADER).filter(about_user).count()
    return redactable, kept


def _anonymise(user, pseudonym: str) -> list[str]:
    """Remove the person's name, contacts, identifiers and access; return what went."""
    erased = ["name", "email", "username", "password", "api_tokens"]
    identifiers = CitizenIdentifiers.objects.filter(user=user).first()
    if identifiers is not None:
        erased += [f"identifiers.{name}" for name in identifiers.fields]
        identifiers.delete()
    ApiToken.objects.filter(user=user).delete()

    # Names copied as text into the dialogue and the status history.
    Message.objects.filter(author=user).update(author_name=pseudonym)
    Transition.objects.filter(actor=user).update(actor_name=pseudonym)

    user.first_name = ""
    user.last_name = ""
    user.email = ""
    user.username = pseudonym
    user.set_unusable_password()
    user.is_active = False
    user.save()
    return erased


def require_confirmation(confirm) -> None:
    """Raise 422 unless the citizen confirmed that erasure cannot be undone."""
    if confirm is not True:
        raise ValidationFailed(
            gettext(
                "confirm must be true: erasure deactivates your account and "
                "cannot be undone."
            ),
            field="confirm",
        )


def request_erasure(actor, *, confirm) -> ErasureRequest:
    """Anonymise the citizen `actor` and return the answer: erased and kept parts.

    Runs in one transaction with its journal entry, which is written after
    anonymising, so the entry names the pseudonym, not the person.
    """
    if not actor.is_authenticated or actor.role != Role.CITIZEN:
        raise PermissionDenied(gettext("Only citizens may request erasure."))
    require_confirmation(confirm)

    with transaction.atomic():
        user = User.objects.select_for_update().get(pk=actor.pk)
        pseudonym = pseudonym_of(user)
        redactable, journal_entries = _journal_entries_naming(user)
        archived = {
            d.consultation_id: d
            for d in Disposal.objects.filter(
                citizen_id=user.pk, end_action=EndAction.ARCHIVE
            )
        }
        kept = [
            _kept_consultation(consultation, archived)
            for consultation in Consultation.objects.filter(citizen=user).order_by(
                "created_at", "id"
            )
        ]
        acknowledgements = Signature.objects.filter(
            consultation__citizen=user, kind=SignatureKind.ACKNOWLEDGEMENT
        ).count()

        erased = _anonymise(user, pseudonym) + ["journal_payloads"]
        response = {
            "erased": erased,
            "kept": kept,
            "signatures": {
                "count": acknowledgements,
                "reason": gettext(
                    "Your acknowledgements of signed protocols carry your name "
                    "inside the signed document; they are kept with their "
                    "protocols, as changing them would invalidate the signature."
                ),
            },
            "journal": {
                "redacted": len(redactable),
                "entries": journal_entries,
                "until": None,
                "reason": gettext(
                    "The operations journal keeps a record of each of your "
                    "actions (time, action, consultation) for as long as the "
                    "installation runs. Your name and the comments you gave "
                    "are erased from it. Entries written before this "
                    "installation could erase them still contain your name and "
                    "comments, because signed checkpoints cover their text; "
                    "entries counts them. Entries written from now on name the "
                    "pseudonym."
                ),
            },
            "pseudonym": pseudonym,
        }
        entry = journal.record(
            ERASURE_ACTION,
            actor=user,
            object_type="user",
            object_id=user.pk,
            object_label=pseudonym,
            after={
                "erased": erased,
                "kept_consultations": len(kept),
                "journal_entries": journal_entries,
                "journal_payloads": len(redactable),
            },
        )
        request = ErasureRequest.objects.create(
            user=user,
            pseudonym=pseudonym,
            created_at=timezone.now(),
            response=response,
            journal_index=entry.index,
        )
        journal.redact(
            redactable,
            actor=user,
            grounds=ERASURE_ACTION,
            details={"erasure_request": request.pk},
        )
    log.info("erasure_done", user_id=user.pk, kept=len(kept))
    return request


REQUESTS_READ_ACTION = JournalAction.RETENTION_REQUESTS_READ


def erasure_requests(actor, *, via: str) -> list[ErasureRequest]:
    """Return the erasure requests `actor` may read, journaling a staff read.

    Supervisors, auditors and administrators read all of them; a citizen
    reads their own, which is none until their account is erased.
    """
    if actor.role == Role.CITIZEN:
        return list(ErasureRequest.objects.filter(user=actor))
    if actor.role not in READER_ROLES:
        raise PermissionDenied(
            gettext("Only supervisors, auditors and admins may read erasure requests.")
        )
    requests = list(ErasureRequest.objects.select_related("user"))
    journal.record_now(
        REQUESTS_READ_ACTION,
        actor=actor,
        object_type="erasure_request",
        object_id="*",
        after={"via": via, "count": len(requests)},
    )
    return requests
