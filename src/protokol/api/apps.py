from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "protokol.api"
    label = "api"
