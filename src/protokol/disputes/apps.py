from django.apps import AppConfig


class DisputesConfig(AppConfig):
    name = "protokol.disputes"
    label = "disputes"

    def ready(self) -> None:
        from protokol.disputes import receivers  # noqa: F401
