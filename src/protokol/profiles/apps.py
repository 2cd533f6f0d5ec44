from django.apps import AppConfig


class ProfilesConfig(AppConfig):
    name = "protokol.profiles"
    label = "profiles"
