from django.apps import AppConfig


class ScaleConfig(AppConfig):
    name = "protokol.scale"
    label = "scale"
