from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "protokol.accounts"
    label = "accounts"

    def ready(self):
        # Connects the django-axes lockout signal to the journal.
        from protokol.accounts import lockout  # noqa: F401
