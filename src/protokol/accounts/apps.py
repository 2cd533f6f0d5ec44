from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "protokol.accounts"
    label = "accounts"
