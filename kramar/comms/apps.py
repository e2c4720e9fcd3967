from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CommsConfig(AppConfig):
    name = "kramar.comms"
    label = "comms"
    verbose_name = _("Communication Center")

    def ready(self) -> None:
        from kramar.comms import routing_tasks  # noqa: F401  (registers the periodic jobs with huey)
