"""Paying through Stripe (localstripe): once by card with the bank's challenge when asked,
the monthly charge off-session (and a charge the bank wants the customer to confirm),
refunds; every outcome read back from Stripe."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import httpx
import pytest
from django.utils import timezone

from accounts.models import Account, OutboundEmail, User
from billing.charges import autocharges_confirmation_sweep
from billing.models import AutoCharge
from invoices.balances import find_balance_mismatches
from invoices.models import Invoice, RecurringCharge
from payments.card_checks import BillingAddress
from payments.core import new_key, payments_settle
from payments.errors import PaymentError, RefundError
from payments.models import Payment, PaymentMethod
from payments.one_time import (
    payment_card_confirmation,
    payment_card_confirmed,
    payment_card_finish,
    payment_card_start,
)
from payments.reconcile import find_payment_mismatches
from payments.refunds import payment_refund
from payments.selectors import amount_owed
from tests.billing.clock import at, run
from tests.payments.stripe_support import SECRET_KEY, StripeBrowser

pytestmark = pytest.mark.django_db
D = Decimal


def _intent(localstripe: str, reference: str) -> dict:
    response = httpx.get(
        f"{localstripe}/v1/payment_intents/{reference}", auth=(SECRET_KEY, ""), timeout=10
    )
    return response.json()


def _pay(account: Account, user: User, browser: StripeBrowser, amount: str, number: str, **kw):
    key = new_key()
    started = payment_card_start(
        account=account,
        by=user,
        amount=D(amount),
        currency="USD",
        key=key,
        address=BillingAddress.of_account(account),
    )
    browser.confirm_payment(started.client_secret, number, **kw)
    return payment_card_finish(account=account, key=key, token=started.payment.reference)


def test_a_card_paid_once_is_applied_and_not_kept(
    account: Account, owner: User, issue, stripe_browser: StripeBrowser
) -> None:
    invoice = issue(account, "100.00")
    payment = _pay(account, owner, stripe_browser, "100.00", "4242424242424242")
    assert (payment.state, payment.brand, payment.last4) == (
        Payment.State.SUCCEEDED,
        "visa",
        "4242",
    )
    invoice.refresh_from_db()
    assert invoice.state == Invoice.State.PAID
    assert not PaymentMethod.objects.exists()
    assert find_balance_mismatches() == [] and find_payment_mismatches() == []


def test_the_bank_challenge_completed_pays(
    account: Account, owner: User, issue, stripe_browser: StripeBrowser
) -> None:
    issue(account, "100.00")
    payment = _pay(account, owner, stripe_browser, "60.00", "4000002760003184")
    assert payment.state == Payment.State.SUCCEEDED
    assert amount_owed(account, "USD") == D("40.00")


def test_the_bank_challenge_failed_pays_nothing_and_the_intent_is_canceled(
    account: Account, owner: User, issue, stripe_browser: StripeBrowser, localstripe: str
) -> None:
    issue(account, "100.00")
    payment = _pay(account, owner, stripe_browser, "60.00", "4000002760003184", authenticate=False)
    assert (payment.state, payment.decline_code) == (
        Payment.State.DECLINED,
        "authentication_failed",
    )
    assert payment.reason == "Your bank's confirmation of the payment was not completed."
    assert _intent(localstripe, payment.reference)["status"] == "canceled"
    assert amount_owed(account, "USD") == D("100.00")


def test_a_declined_card_pays_nothing(
    account: Account, owner: User, issue, stripe_browser: StripeBrowser
) -> None:
    issue(account, "100.00")
    payment = _pay(account, owner, stripe_browser, "100.00", "4000000000000002")
    assert (payment.state, payment.reason) == (Payment.State.DECLINED, "Your card was declined.")
    assert amount_owed(account, "USD") == D("100.00")


def test_the_same_form_twice_is_one_payment_and_one_intent(
    account: Account, owner: User, issue, stripe_gateway, localstripe: str
) -> None:
    issue(account, "100.00")
    key = new_key()
    args = {
        "account": account,
        "by": owner,
        "amount": D("100.00"),
        "currency": "USD",
        "key": key,
        "address": BillingAddress.of_account(account),
    }
    first = payment_card_start(**args)
    again = payment_card_start(**args)
    assert first.payment.pk == again.payment.pk
    assert first.payment.reference == again.payment.reference
    assert first.client_secret == again.client_secret
    listed = httpx.get(
        f"{localstripe}/v1/payment_intents", auth=(SECRET_KEY, ""), timeout=10
    ).json()
    assert len(listed["data"]) == 1


def test_an_amount_below_stripes_minimum_is_refused_before_any_call(
    account: Account, owner: User, issue, stripe_gateway
) -> None:
    issue(account, "100.00")
    with pytest.raises(PaymentError, match="at least"):
        payment_card_start(
            account=account,
            by=owner,
            amount=D("0.30"),
            currency="USD",
            key=new_key(),
            address=BillingAddress.of_account(account),
        )
    assert not Payment.objects.exists()


def test_a_payment_never_confirmed_is_given_up_and_its_intent_canceled(
    account: Account, owner: User, issue, stripe_gateway, localstripe: str
) -> None:
    issue(account, "100.00")
    started = payment_card_start(
        account=account,
        by=owner,
        amount=D("100.00"),
        currency="USD",
        key=new_key(),
        address=BillingAddress.of_account(account),
    )
    payments_settle(now=timezone.now() + timedelta(minutes=5))
    payment = Payment.objects.get()
    assert payment.state == Payment.State.REQUIRES_ACTION
    payments_settle(now=timezone.now() + timedelta(minutes=61))
    payment.refresh_from_db()
    assert payment.state == Payment.State.DECLINED
    assert _intent(localstripe, started.payment.reference)["status"] == "canceled"
    assert amount_owed(account, "USD") == D("100.00")


def test_refunds_through_stripe_never_exceed_what_was_paid(
    account: Account, owner: User, rep: User, issue, stripe_browser: StripeBrowser
) -> None:
    issue(account, "100.00")
    payment = _pay(account, owner, stripe_browser, "100.00", "4242424242424242")
    part = payment_refund(payment=payment, amount=D("30.00"), reason="SLA", by=rep, key=new_key())
    assert part.state == part.State.SUCCEEDED and part.reference.startswith("re_")
    rest = payment_refund(
        payment=payment, amount=D("70.00"), reason="Closed", by=rep, key=new_key()
    )
    assert rest.state == rest.State.SUCCEEDED
    with pytest.raises(RefundError, match="cannot exceed"):
        payment_refund(payment=payment, amount=D("0.01"), reason="Again", by=rep, key=new_key())
    assert find_payment_mismatches() == []


# The monthly charge, off-session -----------------------------------------------------------------


@pytest.fixture
def hosting(account: Account) -> RecurringCharge:
    return RecurringCharge.objects.create(
        account=account, description="VPS", unit_price=D("40.00"), starts_on=date(2026, 10, 1)
    )


def test_a_declined_monthly_charge_enters_dunning(
    account: Account, hosting: RecurringCharge, monthly_stripe
) -> None:
    monthly_stripe("4000000000000341")
    run(date(2026, 10, 1))
    charge = AutoCharge.objects.get()
    assert (charge.state, charge.declines) == (AutoCharge.State.SCHEDULED, 1)
    assert Payment.objects.get().state == Payment.State.DECLINED


def test_a_charge_the_bank_wants_confirmed_waits_for_the_customer(
    account: Account, owner: User, hosting: RecurringCharge, monthly_stripe, stripe_browser
) -> None:
    monthly_stripe("4000002760003184")
    run(date(2026, 10, 1))
    charge = AutoCharge.objects.get()
    payment = Payment.objects.get()
    assert charge.state == AutoCharge.State.NEEDS_CONFIRMATION
    assert payment.state == Payment.State.REQUIRES_ACTION
    assert charge.confirm_until is not None
    email = OutboundEmail.objects.get(key__startswith=f"billing.autocharge.{charge.pk}.confirm")
    assert f"/payments/{payment.pk}/confirm/" in email.body
    # Dunning waits: a later run makes no new charge.
    run(date(2026, 10, 2))
    assert Payment.objects.count() == 1

    intent = payment_card_confirmation(payment=payment)
    assert intent is not None
    assert intent.payment_method.startswith("pm_")
    stripe_browser.confirm_saved(intent.client_secret, intent.payment_method)
    payment = payment_card_confirmed(payment=payment)
    charge.refresh_from_db()
    assert payment.state == Payment.State.SUCCEEDED
    assert charge.state == AutoCharge.State.SUCCEEDED
    assert amount_owed(account, "USD") == D("0.00")


def test_a_charge_not_confirmed_in_time_goes_back_to_dunning(
    account: Account, hosting: RecurringCharge, monthly_stripe, localstripe: str, settings
) -> None:
    monthly_stripe("4000002760003184")
    run(date(2026, 10, 1))
    charge = AutoCharge.objects.get()
    assert charge.confirm_until is not None
    assert autocharges_confirmation_sweep(now=at(date(2026, 10, 3))) == (0, 0)
    reminded = autocharges_confirmation_sweep(now=charge.confirm_until - timedelta(hours=12))
    assert reminded == (1, 0)
    assert autocharges_confirmation_sweep(now=charge.confirm_until - timedelta(hours=6)) == (0, 0)
    assert OutboundEmail.objects.filter(key__contains=".reminder.").count() == 1

    assert autocharges_confirmation_sweep(now=charge.confirm_until + timedelta(minutes=1)) == (0, 1)
    charge.refresh_from_db()
    payment = Payment.objects.get()
    assert (payment.state, payment.decline_code) == (
        Payment.State.DECLINED,
        "authentication_required",
    )
    assert _intent(localstripe, payment.reference)["status"] == "canceled"
    assert (charge.state, charge.declines, charge.decline_code) == (
        AutoCharge.State.SCHEDULED,
        1,
        "authentication_required",
    )
    assert charge.next_attempt_at is not None


def test_a_customer_who_pays_another_way_instead_is_never_charged_by_the_waiting_charge(
    account: Account,
    owner_client,
    hosting: RecurringCharge,
    monthly_stripe,
    stripe_browser: StripeBrowser,
    localstripe: str,
) -> None:
    monthly_stripe("4000002760003184")
    run(date(2026, 10, 1))
    payment = Payment.objects.get()
    assert payment.needs_confirmation
    page = owner_client.get(f"/payments/{payment.pk}/confirm/")
    assert b"Pay another way instead" in page.content

    response = owner_client.post(f"/payments/{payment.pk}/confirm/", {"not_confirming": "1"})
    assert response.status_code == 302 and response["Location"] == "/payments/"
    payment.refresh_from_db()
    assert (payment.state, payment.decline_code) == (
        Payment.State.DECLINED,
        "authentication_required",
    )
    intent = _intent(localstripe, payment.reference)
    assert intent["status"] == "canceled"
    charge = AutoCharge.objects.get()
    assert charge.state == AutoCharge.State.SCHEDULED and charge.declines == 1
    # The whole balance can be paid once now; the old confirmation page has nothing to do.
    assert amount_owed(account, "USD") == D("40.00")
    assert owner_client.get(f"/payments/{payment.pk}/confirm/").status_code == 302
    assert payment_card_confirmation(payment=payment) is None


def test_the_payments_page_tells_a_charge_waiting_for_confirmation_apart(
    account: Account, owner_client, hosting: RecurringCharge, monthly_stripe
) -> None:
    monthly_stripe("4000002760003184")
    run(date(2026, 10, 1))
    page = owner_client.get("/payments/").content.decode()
    assert "A charge of $40.00 is waiting for your confirmation" in page
    assert "is being processed" not in page


def test_the_hourly_task_reminds_then_gives_up(
    account: Account, hosting: RecurringCharge, monthly_stripe
) -> None:
    from billing.tasks import autocharges_confirmation_sweep_task

    monthly_stripe("4000002760003184")
    run(date(2026, 10, 1))
    charge = AutoCharge.objects.get()
    AutoCharge.objects.filter(pk=charge.pk).update(
        confirm_until=timezone.now() + timedelta(hours=12)
    )
    assert autocharges_confirmation_sweep_task.apply().get() == [1, 0]
    AutoCharge.objects.filter(pk=charge.pk).update(
        confirm_until=timezone.now() - timedelta(minutes=1)
    )
    assert autocharges_confirmation_sweep_task.apply().get() == [0, 1]
    charge.refresh_from_db()
    assert charge.state == AutoCharge.State.SCHEDULED


@pytest.fixture
def waiting_charge(account: Account, hosting: RecurringCharge, monthly_stripe) -> Payment:
    monthly_stripe("4000002760003184")
    run(date(2026, 10, 1))
    payment = Payment.objects.get()
    assert payment.needs_confirmation
    return payment


def test_the_confirmation_page_is_the_accounts_own(
    client, stranger: User, viewer_client, waiting_charge: Payment
) -> None:
    url = f"/payments/{waiting_charge.pk}/confirm/"
    page = viewer_client.get(url)
    assert page.status_code == 200 and b"confirm-charge" not in page.content
    assert viewer_client.post(url, {"not_confirming": "1"}).status_code == 403
    client.force_login(stranger)
    assert client.get(url).status_code == 404
    assert client.post(url, {"not_confirming": "1"}).status_code == 404
    waiting_charge.refresh_from_db()
    assert waiting_charge.needs_confirmation


def test_starting_a_card_payment_is_a_post_by_a_payer_of_the_account(
    owner_client, viewer: User, account: Account, issue, stripe_gateway
) -> None:
    from django.test import Client

    viewer_client = Client()
    viewer_client.force_login(viewer)
    issue(account, "100.00")
    form = {"amount": "20.00", "currency": "USD", "key": new_key(), "use_company_info": "on"}
    assert owner_client.get("/payments/card/start/").status_code == 405
    assert viewer_client.post("/payments/card/start/", form).status_code == 403
    assert not Payment.objects.exists()
    started = owner_client.post("/payments/card/start/", form)
    assert started.status_code == 200
    answer = started.json()
    assert answer["payment_intent"].startswith("pi_") and "_secret_" in answer["client_secret"]
    # The same form again: the same payment and intent.
    assert owner_client.post("/payments/card/start/", form).json() == answer
    bad = owner_client.post("/payments/card/start/", {**form, "amount": "0", "key": new_key()})
    assert bad.status_code == 400 and bad.json()["error"]
    assert Payment.objects.count() == 1


def test_another_accounts_form_key_starts_nothing(
    client, stranger: User, owner_client, account: Account, issue, stripe_gateway
) -> None:
    issue(account, "100.00")
    form = {"amount": "20.00", "currency": "USD", "key": new_key(), "use_company_info": "on"}
    answer = owner_client.post("/payments/card/start/", form).json()
    client.force_login(stranger)
    stolen = client.post("/payments/card/start/", form)
    assert stolen.status_code == 400
    assert answer["client_secret"] not in stolen.content.decode()
