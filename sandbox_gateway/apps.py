from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SandboxGatewayConfig(AppConfig):
    name = "sandbox_gateway"
    verbose_name = _("Sandbox payment gateway")
