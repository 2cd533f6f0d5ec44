"""Template tags that link a consultation's page to its disputes."""

from django import template

from protokol.disputes import permissions
from protokol.disputes.models import Dispute

register = template.Library()


@register.simple_tag
def disputes_for(consultation, user) -> list[Dispute]:
    """Return the consultation's disputes that `user` may see, newest first."""
    return [
        dispute
        for dispute in Dispute.objects.filter(consultation=consultation)
        if permissions.can_view_dispute(user, dispute)
    ]
