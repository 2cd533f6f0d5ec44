from django.apps import AppConfig


class RetentionConfig(AppConfig):
    name = "protokol.retention"
    label = "retention"
