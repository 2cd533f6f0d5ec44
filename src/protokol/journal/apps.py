from django.apps import AppConfig


class JournalConfig(AppConfig):
    name = "protokol.journal"
    label = "journal"
