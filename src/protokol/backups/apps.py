from django.apps import AppConfig


class BackupsConfig(AppConfig):
    name = "protokol.backups"
    label = "backups"
