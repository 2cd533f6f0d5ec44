from django.apps import AppConfig


class MonitoringConfig(AppConfig):
    name = "protokol.monitoring"
    label = "monitoring"

    def ready(self):
        from prometheus_client import REGISTRY

        from protokol.monitoring.metrics import ProtokolCollector

        # ready() can run twice in one process (tests, autoreload).
        if not getattr(REGISTRY, "_protokol_collector", False):
            REGISTRY.register(ProtokolCollector())
            REGISTRY._protokol_collector = True
