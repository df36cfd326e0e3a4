"""Recompute every balance from invoices and allocations, and check that payments account for
what they applied and refunded; exit 1 on any mismatch."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from accounts.progress import progress
from invoices.balances import find_balance_mismatches
from payments.reconcile import find_payment_mismatches


class Command(BaseCommand):
    help = (
        "Recomputes the balance of every invoice from its total and what was applied to it "
        "(credits and payments), checks every payment's allocations and refunds against its "
        "amount, and reports every mismatch. Exits 1 when there is one."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        def balances() -> list[str]:
            return [str(mismatch) for mismatch in find_balance_mismatches()]

        checks = [("invoice balances", balances), ("payments", find_payment_mismatches)]
        mismatches: list[str] = []
        with progress(
            self.stdout, total=len(checks), description="Checking balances", unit="checks"
        ) as tracker:
            for _name, check in checks:
                found = check()
                mismatches += found
                tracker.advance(mismatches=len(found))
        for mismatch in mismatches:
            self.stderr.write(str(mismatch))
        if mismatches:
            raise CommandError(f"{len(mismatches)} balance mismatch(es) found.", returncode=1)
        self.stdout.write(self.style.SUCCESS("Every balance reconciles."))
