from django.apps import AppConfig


class CatalogConfig(AppConfig):
    name = "protokol.catalog"
    label = "catalog"
