from __future__ import annotations

from django.apps import AppConfig
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _


class SandboxGatewayConfig(AppConfig):
    name = "sandbox_gateway"
    verbose_name = _("Sandbox payment gateway")

    def ready(self) -> None:
        from .latency import LatencyError, parse_latency

        # Read once at start, as the settings are: a misspelt distribution stops the start
        # rather than letting the demo answer at once.
        try:
            parse_latency(settings.SANDBOX_LATENCY)
        except LatencyError as error:
            raise ImproperlyConfigured(str(error)) from error
