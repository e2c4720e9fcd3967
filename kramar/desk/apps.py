from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class DeskConfig(AppConfig):
    """The rep's workstation: "My day"."""

    name = "kramar.desk"
    label = "desk"
    verbose_name = _("My day")
