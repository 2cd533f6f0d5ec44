"""Pages of the signed-in user's notifications and notification settings."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from protokol.errors import ProtokolError
from protokol.notifications import channels, services
from protokol.notifications.texts import describe

PAGE_SIZE = 100


@login_required
def notifications_page(request):
    """Render the newest notifications, unread ones marked."""
    rows = [
        (notification, describe(notification.kind, notification.params))
        for notification in services.notifications_of(request.user)[:PAGE_SIZE]
    ]
    context = {
        "title": _("Уведомления"),
        "rows": rows,
        "unread": services.unread_count(request.user),
    }
    return render(request, "notifications/list.html", context)


@login_required
@require_POST
def mark_read(request):
    """Mark one notification (field `id`) or all of them read."""
    raw_id = request.POST.get("id")
    try:
        ids = None if raw_id is None else [int(raw_id)]
        services.mark_read(request.user, ids)
    except (ValueError, ProtokolError):
        messages.error(request, _("Уведомление не найдено."))
    return redirect("notifications:list")


@login_required
def settings_page(request):
    """Show and save the user's channels: in-app always, e-mail on or off."""
    preference = services.preferences(request.user)
    if request.method == "POST":
        services.set_preferences(request.user, email=request.POST.get("email") == "on")
        messages.success(request, _("Настройки уведомлений сохранены."))
        return redirect("notifications:settings")
    context = {
        "title": _("Настройки уведомлений"),
        "preference": preference,
        "email_enabled": channels.email_enabled(),
        "has_address": bool(request.user.email),
    }
    return render(request, "notifications/settings.html", context)
