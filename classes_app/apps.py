from __future__ import annotations

from django.apps import AppConfig


class ClassesAppConfig(AppConfig):
    name = "classes_app"
    verbose_name = "Classes and labs"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from classes_app import culling, labs

        labs.register_actions()
        culling.register_actions()
