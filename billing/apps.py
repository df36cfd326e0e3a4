from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class BillingConfig(AppConfig):
    name = "billing"
    verbose_name = _("Billing")

    def ready(self) -> None:
        # The monthly cycle follows the payments it makes and the monthly card through the
        # hooks payments offers; payments never imports billing.
        from payments import hooks

        from . import (
            audit,  # noqa: F401 (declares the actions it records, for the Activity page)
            dunning,
            sections,
        )

        hooks.on_payment_outcome(
            dunning.payment_outcome_recorded, together=dunning.payments_succeeded_together
        )
        hooks.on_monthly_card_set(dunning.autocharges_resume)
        hooks.on_monthly_card_lost(dunning.monthly_card_lost)
        hooks.on_payments_page(sections.autocharges_section)
