"""Read models of a consultation, shared by the page, the API and the PDF copy."""

from protokol.consultations import lifecycle, permissions
from protokol.consultations.models import Consultation, Status


def _person(name: str, role: str) -> dict:
    return {"name": name, "role": role}


def consultation_detail(
    consultation: Consultation, viewer, *, public_only=False
) -> dict:
    """Return everything `viewer` may see of a consultation, as plain data.

    `public_only` drops internal notes even for staff, as the citizen's copy does.
    """
    from protokol.protocols.services import latest_version

    show_internal = not public_only and permissions.can_view_internal(
        viewer, consultation
    )
    messages = consultation.messages.all()
    if not show_internal:
        messages = messages.filter(visibility="public")

    protocol = latest_version(consultation)
    versions = list(
        consultation.protocol_versions.order_by("version").values(
            "version", "author_name", "created_at"
        )
    )
    return {
        "id": consultation.pk,
        "number": consultation.number,
        "status": consultation.status,
        "version": consultation.version,
        "status_label": Status(consultation.status).label,
        "channel": consultation.channel,
        "subject": consultation.subject,
        "description": consultation.description,
        "district": consultation.district,
        "service": {
            "code": consultation.service.code,
            "name": consultation.service.name,
            "name_en": consultation.service.name_en,
        },
        "department": {
            "code": consultation.department.code,
            "name": consultation.department.name,
            "name_en": consultation.department.name_en,
        },
        "citizen": _person(consultation.citizen.display_name, "citizen"),
        "assignee": (
            _person(consultation.assignee.display_name, consultation.assignee.role)
            if consultation.assignee_id
            else None
        ),
        "created_at": consultation.created_at,
        "updated_at": consultation.updated_at,
        "closed_at": consultation.closed_at,
        "deadline": consultation.deadline,
        "messages": [
            {
                "id": m.pk,
                "author": _person(m.author_name, m.author_role),
                "text": m.text,
                "visibility": m.visibility,
                "created_at": m.created_at,
            }
            for m in messages
        ],
        "attachments": [
            {
                "id": a.pk,
                "name": a.original_name,
                "content_type": a.content_type,
                "size": a.size,
                "sha256": a.sha256,
                "created_at": a.created_at,
            }
            for a in consultation.attachments.all()
        ],
        "transitions": [
            {
                "action": t.action,
                "from_status": t.from_status,
                "to_status": t.to_status,
                "actor": _person(t.actor_name, t.actor_role),
                "comment": t.comment,
                "details": t.details,
                "created_at": t.created_at,
            }
            for t in consultation.transitions.all()
        ],
        "protocol": (
            {
                "version": protocol.version,
                "question": protocol.question,
                "documents": protocol.documents,
                "recommendations": protocol.recommendations,
                "decision": protocol.decision,
                "decision_reason": protocol.decision_reason,
                "author": protocol.author_name,
                "created_at": protocol.created_at,
            }
            if protocol
            else None
        ),
        "protocol_versions": versions,
        "addenda": [
            {
                "kind": a.kind,
                "text": a.text,
                "author": a.author_name,
                "created_at": a.created_at,
            }
            for a in consultation.addenda.all()
        ],
        "allowed_actions": [
            action
            for action in lifecycle.allowed_actions(consultation.status)
            if permissions.can_take_action(viewer, consultation, action)
            and not (
                action == "approve" and protocol and protocol.author_id == viewer.pk
            )
        ],
    }
