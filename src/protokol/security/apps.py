from django.apps import AppConfig


class SecurityConfig(AppConfig):
    name = "protokol.security"
    label = "security"
