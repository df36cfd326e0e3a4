"""J5: the monthly cycle with the clock moved day by day: invoices issued and charged to the
card on file, dunning, late fees, and a customer who pays once."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from accounts.models import Account, OutboundEmail, User
from billing import charges, tasks
from billing.charges import autocharge_attempt
from billing.late_fees import late_fee_waive
from billing.models import AutoCharge, LateFee
from billing.run import billing_run, billing_run_account
from billing.tasks import autocharges_due_task, billing_run_task
from invoices import services
from invoices.balances import find_balance_mismatches
from invoices.models import Invoice, RecurringCharge
from invoices.services import recurring_run_account
from payments.cards import payment_method_approve, payment_method_remove, payment_method_set_monthly
from payments.core import payments_settle
from payments.gateway import card_gateway
from payments.gateways.base import GatewayUnavailable
from payments.models import Payment, PaymentMethod
from payments.reconcile import find_payment_mismatches
from payments.selectors import amount_owed
from sandbox_gateway.models import SandboxRequest
from tests.billing.clock import at, days, run
from tests.factories import AccountFactory

D = Decimal
pytestmark = pytest.mark.django_db


def emails(account: Account) -> list[str]:
    return list(
        OutboundEmail.objects.filter(account=account)
        .exclude(key__startswith="payments.payment_method.")
        .order_by("pk")
        .values_list("key", flat=True)
    )


def test_the_invoice_is_charged_to_the_card_on_file_and_receipted(
    account: Account, hosting: RecurringCharge, monthly
) -> None:
    monthly("4242424242424242")

    run(date(2026, 10, 1))

    invoice = Invoice.objects.get(account=account)
    assert (invoice.type, invoice.state, invoice.balance) == (
        Invoice.Type.NEW,
        Invoice.State.PAID,
        D("0.00"),
    )
    payment = Payment.objects.get()
    assert (payment.method, payment.state, payment.amount) == (
        Payment.Method.CARD_ON_FILE,
        Payment.State.SUCCEEDED,
        D("100.00"),
    )
    assert payment.key == f"autocharge:{invoice.pk}:1"
    assert invoice.autocharge.state == AutoCharge.State.SUCCEEDED
    assert emails(account) == [
        f"invoices.invoice.issued:{invoice.pk}",
        f"payments.payment.receipt:{payment.pk}",
    ]

    # The same day again: nothing more is issued or charged.
    run(date(2026, 10, 1))
    assert Invoice.objects.count() == 1 and Payment.objects.count() == 1
    assert SandboxRequest.objects.filter(kind="charge").count() == 1


def test_a_declined_card_is_dunned_charged_a_late_fee_and_stops_when_the_customer_pays(
    account: Account, owner: User, hosting: RecurringCharge, monthly, pay_by_card, settings
) -> None:
    settings.LATE_FEE_PERCENT = D("1.5")
    settings.LATE_FEE_FIXED = {"USD": D("5.00")}
    monthly("4000000000000341")  # verifies, but every charge is declined

    for day in days(date(2026, 10, 1), date(2026, 12, 16)):
        run(day)

    october = Invoice.objects.get(type=Invoice.Type.NEW)
    november = Invoice.objects.get(type=Invoice.Type.RECURRING, issue_date=date(2026, 11, 1))
    december = Invoice.objects.get(type=Invoice.Type.RECURRING, issue_date=date(2026, 12, 1))
    charges = [october.autocharge, november.autocharge, december.autocharge]
    for charge in charges:
        # Declined when issued, then retried 1, 3 and 7 days after the first decline.
        assert (charge.state, charge.attempts, charge.declines) == (AutoCharge.State.FAILED, 4, 4)
        assert [p.state for p in charge.payments.all()] == [Payment.State.DECLINED] * 4
    assert november.autocharge.first_declined_at == at(date(2026, 11, 1))

    fees = list(LateFee.objects.order_by("pk"))
    # October's invoice (due 31 October) got its fee on 15 November and, still unpaid 30 days
    # later, another; November's (due 1 December) got its first on 16 December.
    assert [(fee.invoice, fee.period, fee.fee_invoice.issue_date) for fee in fees] == [
        (october, 0, date(2026, 11, 15)),
        (october, 1, date(2026, 12, 15)),
        (november, 0, date(2026, 12, 16)),
    ]
    assert fees[2].fee_invoice.total == D("6.50")  # 1.5% of 100.00 + 5.00
    assert fees[1].fee_invoice.type == Invoice.Type.ONE_TIME
    assert not AutoCharge.objects.filter(invoice=fees[0].fee_invoice).exists()

    keys = emails(account)
    expected = [
        f"invoices.invoice.issued:{october.pk}",
        *(f"payments.autocharge.{charges[0].pk}.declined.{n}" for n in (1, 2, 3, 4)),
        f"invoices.invoice.issued:{november.pk}",
        *(f"payments.autocharge.{charges[1].pk}.declined.{n}" for n in (1, 2, 3, 4)),
        f"invoices.invoice.issued:{fees[0].fee_invoice.pk}",
        f"payments.late_fee.{fees[0].pk}",
        f"invoices.invoice.issued:{december.pk}",
        *(f"payments.autocharge.{charges[2].pk}.declined.{n}" for n in (1, 2, 3, 4)),
        f"invoices.invoice.issued:{fees[1].fee_invoice.pk}",
        f"payments.late_fee.{fees[1].pk}",
        f"invoices.invoice.issued:{fees[2].fee_invoice.pk}",
        f"payments.late_fee.{fees[2].pk}",
    ]
    assert keys == expected
    first = OutboundEmail.objects.get(key=expected[6]).body
    assert "Your card was declined." in first and "/payments/" in first
    assert "2 Nov 2026" in first  # the next try
    assert "4 Nov 2026" in OutboundEmail.objects.get(key=expected[7]).body
    assert "will not try the card again" in OutboundEmail.objects.get(key=expected[9]).body

    # The customer pays everything once, with another card: dunning stops.
    owed = amount_owed(account, "USD")
    assert owed == D("300.00") + sum(fee.fee_invoice.total for fee in fees)
    payment = pay_by_card(account, owner, str(owed))
    assert amount_owed(account, "USD") == D("0.00")
    charged = SandboxRequest.objects.filter(kind="charge").count()
    for day in days(date(2026, 12, 17), date(2026, 12, 31)):
        run(day)
    assert emails(account) == [*expected, f"payments.payment.receipt:{payment.pk}"]
    assert SandboxRequest.objects.filter(kind="charge").count() == charged
    assert not AutoCharge.objects.filter(state__in=AutoCharge.ACTIVE).exists()
    assert find_balance_mismatches() == [] and find_payment_mismatches() == []


def test_dunning_stops_as_soon_as_the_invoice_is_paid(
    account: Account, owner: User, hosting: RecurringCharge, monthly, pay_by_card
) -> None:
    monthly("4000000000000341")
    run(date(2026, 10, 1))
    charge = AutoCharge.objects.get()
    assert charge.state == AutoCharge.State.SCHEDULED
    assert charge.next_attempt_at == at(date(2026, 10, 2))

    pay_by_card(account, owner, "100.00")

    charge.refresh_from_db()
    assert charge.state == AutoCharge.State.STOPPED
    run(date(2026, 10, 2))
    assert charge.payments.count() == 1


def test_an_account_without_a_usable_card_is_told_at_once_and_charged_when_one_arrives(
    account: Account, owner: User, rep: User, hosting: RecurringCharge, add_card
) -> None:
    run(date(2026, 10, 1))

    charge = AutoCharge.objects.get()
    assert charge.state == AutoCharge.State.NO_CARD
    notice = f"payments.no_usable_card.{account.pk}.0"
    assert emails(account)[-1] == notice
    run(date(2026, 11, 1))  # another invoice waits for a card: no second notice
    assert AutoCharge.objects.filter(state=AutoCharge.State.NO_CARD).count() == 2
    assert emails(account).count(notice) == 1

    payment_method_approve(payment_method=add_card(account, owner), by=rep)
    charge.refresh_from_db()
    assert charge.state == AutoCharge.State.SCHEDULED
    billing_run(day=timezone.localdate(), now=timezone.now())

    charge.refresh_from_db()
    assert charge.state == AutoCharge.State.SUCCEEDED
    assert amount_owed(account, "USD") == D("0.00")


def test_a_removed_card_is_not_charged(
    account: Account, owner: User, hosting: RecurringCharge, monthly
) -> None:
    card = monthly("4242424242424242")
    payment_method_remove(payment_method=card, by=owner)
    run(date(2026, 10, 1))
    assert AutoCharge.objects.get().state == AutoCharge.State.NO_CARD
    assert not SandboxRequest.objects.filter(kind="charge").exists()


def test_an_expired_monthly_card_stops_being_charged_and_the_account_is_told(
    account: Account, hosting: RecurringCharge, monthly
) -> None:
    card = monthly("4242424242424242")
    PaymentMethod.objects.filter(pk=card.pk).update(exp_month=9, exp_year=2026)

    run(date(2026, 10, 1))

    card.refresh_from_db()
    assert card.state == PaymentMethod.State.EXPIRED and not card.is_monthly
    notice = f"payments.no_usable_card.{account.pk}.{card.pk}"
    assert emails(account).count(notice) == 1
    assert card.contact_email in OutboundEmail.objects.get(key=notice).to
    assert AutoCharge.objects.get().state == AutoCharge.State.NO_CARD
    assert not SandboxRequest.objects.filter(kind="charge").exists()


def test_a_processing_error_is_retried_sooner_than_a_decline(
    account: Account, hosting: RecurringCharge, monthly, monkeypatch, settings
) -> None:
    monthly("4242424242424242")
    gateway = card_gateway()
    real_charge = gateway.charge

    def unavailable(**kwargs: object) -> object:
        raise GatewayUnavailable("connection refused")

    monkeypatch.setattr(gateway, "charge", unavailable)
    run(date(2026, 10, 1))

    charge = AutoCharge.objects.get()
    assert (charge.state, charge.processing_errors, charge.declines) == (
        AutoCharge.State.SCHEDULED,
        1,
        0,
    )
    assert charge.next_attempt_at == at(date(2026, 10, 1)) + timedelta(
        minutes=settings.DUNNING_PROCESSING_RETRY_MINUTES
    )
    assert not any(".declined." in key for key in emails(account))

    monkeypatch.setattr(gateway, "charge", real_charge)
    autocharge_attempt(autocharge_id=charge.pk, now=at(date(2026, 10, 1), hour=4))
    charge.refresh_from_db()
    assert charge.state == AutoCharge.State.SUCCEEDED


def test_a_charge_killed_after_the_gateway_answered_is_settled_once_when_rerun(
    account: Account, hosting: RecurringCharge, monthly, monkeypatch
) -> None:
    monthly("4242424242424242")

    def die(**kwargs: object) -> None:
        raise RuntimeError("the worker died before the commit")

    # Whether its answer is recorded alone or with the rest of its chunk's.
    monkeypatch.setattr(charges, "payment_record_outcome", die)
    monkeypatch.setattr(charges, "payments_record_succeeded", die)
    with pytest.raises(RuntimeError):
        run(date(2026, 10, 1))
    monkeypatch.undo()
    charge = AutoCharge.objects.get()
    assert charge.state == AutoCharge.State.CHARGING
    assert SandboxRequest.objects.filter(kind="charge").count() == 1

    # The task runs again (acks late: redelivered) a few minutes later.
    autocharge_attempt(autocharge_id=charge.pk, now=timezone.now() + timedelta(minutes=5))
    autocharge_attempt(autocharge_id=charge.pk, now=timezone.now() + timedelta(minutes=6))

    charge.refresh_from_db()
    assert charge.state == AutoCharge.State.SUCCEEDED
    assert SandboxRequest.objects.filter(kind="charge").count() == 1
    assert Payment.objects.filter(state=Payment.State.SUCCEEDED).count() == 1
    assert amount_owed(account, "USD") == D("0.00")


def test_staff_waive_a_late_fee_with_a_credit_that_refers_to_it(
    account: Account, rep: User, hosting: RecurringCharge
) -> None:
    run(date(2026, 10, 1))
    run(date(2026, 11, 15))
    fee = LateFee.objects.get()
    owed = amount_owed(account, "USD")

    late_fee_waive(late_fee=fee, by=rep)
    late_fee_waive(late_fee=fee, by=rep)

    fee.refresh_from_db()
    assert fee.waiver is not None and fee.waiver.refers_to == fee.fee_invoice
    assert fee.waiver.type == Invoice.Type.CREDIT
    assert amount_owed(account, "USD") == owed - fee.fee_invoice.total
    assert Invoice.objects.filter(type=Invoice.Type.CREDIT).count() == 1


def test_a_late_fee_is_charged_once_per_invoice_and_period(
    account: Account, hosting: RecurringCharge, settings
) -> None:
    settings.LATE_FEE_EVERY_DAYS = 30
    run(date(2026, 10, 1))
    october = Invoice.objects.get(type=Invoice.Type.NEW)
    for day in (date(2026, 11, 15), date(2026, 11, 15), date(2026, 11, 20), date(2026, 12, 15)):
        billing_run_account(account_id=account.pk, day=day, now=at(day))
    assert list(LateFee.objects.filter(invoice=october).values_list("period", flat=True)) == [
        1,
        0,
    ]


def test_run_billing_dry_run_changes_nothing_and_says_what_it_would_do(
    account: Account, hosting: RecurringCharge, monthly
) -> None:
    monthly("4242424242424242")
    out = StringIO()

    call_command("run_billing", "--date", "2026-10-01", "--dry-run", stdout=out)

    text = out.getvalue()
    assert "would issue New" in text and "100.00 USD" in text
    assert "would charge 100.00 USD" in text and "4242" in text
    assert "nothing was changed" in text
    assert not Invoice.objects.exists() and not Payment.objects.exists()
    assert not SandboxRequest.objects.filter(kind="charge").exists()

    call_command("run_billing", "--date", "2026-10-01", stdout=StringIO())
    assert Payment.objects.get().state == Payment.State.SUCCEEDED


def test_a_new_monthly_card_is_charged_at_once_instead_of_waiting_for_the_next_try(
    account: Account,
    owner: User,
    hosting: RecurringCharge,
    monthly,
    django_capture_on_commit_callbacks,
) -> None:
    monthly("4000000000000341")
    run(date(2026, 10, 1))
    charge = AutoCharge.objects.get()
    assert (charge.state, charge.declines) == (AutoCharge.State.SCHEDULED, 1)

    new = monthly("4242424242424242")
    payment_method_set_monthly(payment_method=new, by=owner)
    charge.refresh_from_db()
    assert charge.next_attempt_at is not None and charge.next_attempt_at <= timezone.now()

    # The attempts are sent once the test's transaction would commit.
    with django_capture_on_commit_callbacks(execute=True):
        assert autocharges_due_task() == 1
    charge.refresh_from_db()
    assert charge.state == AutoCharge.State.SUCCEEDED
    assert charge.payments.get(state=Payment.State.SUCCEEDED).payment_method == new


def test_a_partial_automatic_charge_charges_the_rest_later(
    account: Account, owner: User, hosting: RecurringCharge, monthly, pay_by_card
) -> None:
    monthly("4242424242424242")
    day = date(2026, 10, 1)
    recurring_run_account(account=account, day=day)  # issued; not charged yet
    invoice = Invoice.objects.get()
    # A one-time payment of 60.00 is under way (its answer was lost) when the card on file
    # is charged: only the other 40.00 may be charged.
    lost = pay_by_card(account, owner, "60.00", "4000000000005134")
    assert lost.state == Payment.State.PROCESSING
    charge = AutoCharge.objects.create(invoice=invoice, account=account, next_attempt_at=at(day))

    charge = autocharge_attempt(autocharge_id=charge.pk, now=at(day))
    assert charge.payments.get().amount == D("40.00")
    assert charge.state == AutoCharge.State.SCHEDULED  # 60.00 is still owed

    # The lost payment turns out never to have happened; the rest is charged next time.
    payments_settle(now=timezone.now() + timedelta(minutes=5))
    autocharge_attempt(autocharge_id=charge.pk, now=at(day) + timedelta(hours=2))
    charge.refresh_from_db()
    invoice.refresh_from_db()
    assert charge.state == AutoCharge.State.SUCCEEDED
    assert invoice.balance == D("0.00")


def test_a_decline_long_after_the_first_is_retried_a_day_later_not_at_once(
    account: Account, owner: User, hosting: RecurringCharge, monthly
) -> None:
    first = monthly("4000000000000341")
    run(date(2026, 10, 1))  # first decline, 1 October
    charge = AutoCharge.objects.get()
    # Weeks later the customer puts the card on file again (it declines again), as monthly.
    payment_method_remove(payment_method=first, by=owner)
    again = monthly("4000000000000341")
    payment_method_set_monthly(payment_method=again, by=owner)
    later = timezone.now() + timedelta(minutes=1)
    autocharge_attempt(autocharge_id=charge.pk, now=later)

    charge.refresh_from_db()
    assert (charge.state, charge.declines) == (AutoCharge.State.SCHEDULED, 2)
    assert charge.next_attempt_at == later + timedelta(days=1)


def test_a_charge_the_gateway_never_received_is_retried_soon_and_not_called_a_decline(
    account: Account, hosting: RecurringCharge, monthly, monkeypatch
) -> None:
    monthly("4242424242424242")
    gateway = card_gateway()

    def die_before_sending(**kwargs: object) -> object:
        raise SystemExit("the worker died before calling the gateway")

    monkeypatch.setattr(gateway, "charge", die_before_sending)
    with pytest.raises(SystemExit):
        run(date(2026, 10, 1))
    monkeypatch.undo()
    charge = AutoCharge.objects.get()
    assert charge.state == AutoCharge.State.CHARGING

    rerun = timezone.now() + timedelta(minutes=5)
    autocharge_attempt(autocharge_id=charge.pk, now=rerun)
    charge.refresh_from_db()
    assert (charge.state, charge.declines, charge.processing_errors) == (
        AutoCharge.State.SCHEDULED,
        0,
        1,
    )
    assert not any(".declined." in key for key in emails(account))
    autocharge_attempt(autocharge_id=charge.pk, now=charge.next_attempt_at)
    charge.refresh_from_db()
    assert charge.state == AutoCharge.State.SUCCEEDED
    assert SandboxRequest.objects.filter(kind="charge").count() == 1


def test_notices_are_in_the_accounts_language_with_its_money_format(
    account: Account, hosting: RecurringCharge, monthly, settings
) -> None:
    account.language = "zh-hans"
    account.save(update_fields=["language"])
    settings.LATE_FEE_FIXED = {}
    monthly("4000000000000341")
    for day in (date(2026, 10, 1), date(2026, 11, 15)):
        run(day)

    declined = OutboundEmail.objects.filter(key__endswith=".declined.1").order_by("pk")[0]
    assert "扣款被拒绝" in declined.body and "US$100.00" in declined.body
    assert "存档的信用卡" in declined.body and "Card on file" not in declined.body
    assert "Your card was declined" not in declined.body
    late = OutboundEmail.objects.get(key__startswith="payments.late_fee.")
    assert "滞纳金" in late.subject and "US$1.50" in late.body


def test_a_new_card_is_charged_for_invoices_whose_tries_ran_out(
    account: Account, owner: User, hosting: RecurringCharge, monthly
) -> None:
    monthly("4000000000000341")
    for day in days(date(2026, 10, 1), date(2026, 10, 8)):
        run(day)
    charge = AutoCharge.objects.get()
    assert charge.state == AutoCharge.State.FAILED

    new = monthly("4242424242424242")
    payment_method_set_monthly(payment_method=new, by=owner)
    autocharge_attempt(autocharge_id=charge.pk, now=timezone.now())

    charge.refresh_from_db()
    assert charge.state == AutoCharge.State.SUCCEEDED


def test_run_billing_refuses_a_day_that_has_not_come() -> None:
    with pytest.raises(CommandError, match="not come yet"):
        call_command("run_billing", "--date", "2999-01-01", stdout=StringIO())


def test_the_daily_task_hands_out_each_due_account_once_a_day(
    account: Account, hosting: RecurringCharge, django_capture_on_commit_callbacks
) -> None:
    def run_day(day: str) -> int:
        # The chunks are sent once the test's transaction would commit.
        with django_capture_on_commit_callbacks(execute=True):
            return billing_run_task.apply(args=[day]).get()

    assert run_day("2026-10-01") == 1
    assert run_day("2026-10-01") == 0
    assert run_day("2026-10-02") == 0
    assert run_day("2026-11-01") == 1
    assert Invoice.objects.count() == 2


def test_one_failing_account_does_not_stop_the_chunk_for_the_others(
    account: Account, hosting: RecurringCharge, monkeypatch
) -> None:
    other = AccountFactory()
    RecurringCharge.objects.create(
        account=other, description="VPS", unit_price=D("5.00"), starts_on=date(2026, 10, 1)
    )
    real = services._charge_spec

    def flaky(charge: RecurringCharge, *args: Any) -> object:
        # The other account's invoice cannot be made: its whole batch fails at first, and
        # the accounts are then issued one at a time.
        if charge.account_id == other.pk:
            raise RuntimeError("boom")
        return real(charge, *args)

    monkeypatch.setattr(services, "_charge_spec", flaky)
    totals = tasks.billing_run_chunk_task.apply(args=[[other.pk, account.pk], "2026-10-01"]).get()

    assert (totals["failed"], totals["accounts"], totals["issued"]) == (1, 1, 1)
    assert Invoice.objects.filter(account=account).count() == 1
    assert not Invoice.objects.filter(account=other).exists()
