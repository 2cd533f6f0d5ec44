from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "protokol.notifications"
    label = "notifications"

    def ready(self) -> None:
        from protokol.notifications import signals  # noqa: F401
