"""Run the billing day by hand: `manage.py run_billing --date 2026-12-01 [--dry-run]`."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from accounts.progress import Progress
from billing.run import AccountRun, billing_plan, billing_run


class Command(BaseCommand):
    help = (
        "Runs the billing day in this process: marks expired cards, issues the day's New and "
        "Recurring invoices, charges them to the cards on file, retries due charges and "
        "charges late fees. Safe to run again for the same day. --dry-run only shows what "
        "it would issue, charge and fee."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--date", help="the billing day, YYYY-MM-DD (default: today)")
        parser.add_argument("--dry-run", action="store_true", help="change nothing")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            day = date.fromisoformat(options["date"]) if options["date"] else timezone.localdate()
        except ValueError as error:
            raise CommandError(f"--date: {error}") from error
        if day > timezone.localdate():
            raise CommandError("--date: a day that has not come yet cannot be billed.")
        # A past day is billed now: the charges it makes are made now.
        now = timezone.now()
        if options["dry_run"]:
            self._plan(day, now)
            return
        runs = self._run(day, now)
        for run in runs:
            if not (run.issued or run.charges or run.late_fees):
                continue
            self.stdout.write(f"Account {run.account_id}:")
            for invoice in run.issued:
                self.stdout.write(
                    f"  issued {invoice.get_type_display()} {invoice.number}: "
                    f"{invoice.total} {invoice.currency}"
                )
            for charge in run.charges:
                self.stdout.write(
                    f"  charge of {charge.invoice.number}: {charge.get_state_display()}"
                )
            for fee in run.late_fees:
                self.stdout.write(
                    f"  late fee {fee.fee_invoice.number}: {fee.fee_invoice.total} "
                    f"{fee.fee_invoice.currency} on {fee.invoice.number}"
                )
        issued = sum(len(run.issued) for run in runs)
        charged = sum(len(run.charges) for run in runs)
        fees = sum(len(run.late_fees) for run in runs)
        self.stdout.write(
            self.style.SUCCESS(
                f"{day}: {len(runs)} account(s), {issued} invoice(s) issued, "
                f"{charged} charge(s) tried, {fees} late fee(s)."
            )
        )

    def _run(self, day: date, now: datetime) -> list[AccountRun]:
        """The day's run, with its progress on the terminal (a bar) or as plain lines."""
        tracker: Progress | None = None

        def advanced(run: AccountRun, total: int) -> None:
            nonlocal tracker
            if tracker is None:
                tracker = Progress(
                    self.stdout, total=total, description=f"Billing {day}", unit="accounts"
                )
            tracker.advance(
                issued=len(run.issued), charged=len(run.charges), late_fees=len(run.late_fees)
            )

        runs = billing_run(day=day, now=now, progress=advanced)
        if tracker is not None:
            tracker.close()
        return runs

    def _plan(self, day: date, now: datetime) -> None:
        plans = billing_plan(day=day, now=now)
        for plan in plans:
            self.stdout.write(f"Account {plan.account.pk} ({plan.account.company_name}):")
            for kind, number, total, currency in plan.invoices:
                self.stdout.write(f"  would issue {kind} {number}: {total} {currency}")
            for number, amount, currency, card in plan.charges:
                self.stdout.write(f"  would charge {amount} {currency} for {number} to {card}")
            for number, fee, currency in plan.late_fees:
                self.stdout.write(f"  would charge a late fee of {fee} {currency} on {number}")
        self.stdout.write(
            self.style.SUCCESS(f"{day} (dry run): {len(plans)} account(s); nothing was changed.")
        )
