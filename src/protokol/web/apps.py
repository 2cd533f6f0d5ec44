from django.apps import AppConfig


class WebConfig(AppConfig):
    name = "protokol.web"
    label = "web"
