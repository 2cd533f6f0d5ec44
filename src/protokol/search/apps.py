from django.apps import AppConfig


class SearchConfig(AppConfig):
    name = "protokol.search"
    label = "search"

    def ready(self):
        from protokol.search import signals

        signals.connect()
