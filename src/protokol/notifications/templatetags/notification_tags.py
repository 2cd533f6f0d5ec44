from django import template

from protokol.notifications.services import unread_count

register = template.Library()


@register.simple_tag
def unread_notifications(user) -> int:
    """Return the user's unread notification count, 0 when signed out."""
    if not user.is_authenticated:
        return 0
    return unread_count(user)
