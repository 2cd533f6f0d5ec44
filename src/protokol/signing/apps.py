from django.apps import AppConfig


class SigningConfig(AppConfig):
    name = "protokol.signing"
    label = "signing"
