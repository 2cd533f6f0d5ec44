from django.apps import AppConfig


class AnalyticsConfig(AppConfig):
    name = "protokol.analytics"
    label = "analytics"
