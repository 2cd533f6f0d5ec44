from django.apps import AppConfig


class JobsConfig(AppConfig):
    name = "protokol.jobs"
    label = "jobs"
