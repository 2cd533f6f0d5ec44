from django.apps import AppConfig


class DocumentsConfig(AppConfig):
    name = "protokol.documents"
    label = "documents"
