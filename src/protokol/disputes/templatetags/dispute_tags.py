"""Template tags that link a consultation's page to its disputes."""

from django import template

from protokol.disputes import permissions
from protokol.disputes.models import Dispute
from protokol.documents.public import KIND_NAMES

register = template.Library()


@register.simple_tag
def disputes_for(consultation, user) -> list[Dispute]:
    """Return the consultation's disputes that `user` may see, newest first."""
    return [
        dispute
        for dispute in Dispute.objects.filter(consultation=consultation)
        if permissions.can_view_dispute(user, dispute)
    ]


@register.filter
def signature_kind(kind: str) -> str:
    """Return the name of a signature kind in the page's language."""
    return KIND_NAMES.get(kind, kind)
