from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ControlConfig(AppConfig):
    """Managers' control: broken sales rules per rep and team, targets against won amounts."""

    name = "kramar.control"
    label = "control"
    verbose_name = _("Control")
