from django.apps import AppConfig


class ImportsConfig(AppConfig):
    name = "protokol.imports"
    label = "imports"
