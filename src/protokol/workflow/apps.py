from django.apps import AppConfig


class WorkflowConfig(AppConfig):
    name = "protokol.workflow"
    label = "workflow"
