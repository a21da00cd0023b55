from django.apps import AppConfig


class DjappConfig(AppConfig):
    name = "tests.integration.djapp"
    label = "djapp"
