from django.apps import AppConfig


class ProtocolsConfig(AppConfig):
    name = "protokol.protocols"
    label = "protocols"
