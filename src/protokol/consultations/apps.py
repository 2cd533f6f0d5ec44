from django.apps import AppConfig


class ConsultationsConfig(AppConfig):
    name = "protokol.consultations"
    label = "consultations"
