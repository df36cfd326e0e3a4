"""Cards on file through Stripe (localstripe): saved with a SetupIntent the browser confirms,
the bank's challenge completed or failed, read back from Stripe, approved, charged monthly."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from accounts.models import Account, User
from payments.card_checks import BillingAddress
from payments.cards import (
    card_setup_start_for,
    payment_method_add,
    payment_method_approve,
    payment_method_verify,
)
from payments.errors import PaymentMethodError
from payments.models import GatewayCustomer, PaymentMethod
from tests.payments.stripe_support import StripeBrowser

pytestmark = pytest.mark.django_db
State = PaymentMethod.State


def _add(account: Account, user: User, browser: StripeBrowser, number: str, **kw) -> PaymentMethod:
    setup = card_setup_start_for(account=account)
    assert setup is not None
    token = browser.confirm_setup(setup.client_secret, number, **kw)
    method = payment_method_add(
        account=account,
        by=user,
        token=token,
        address=BillingAddress.of_account(account),
        contact_email="cards@example.com",
    )
    return payment_method_verify(payment_method_id=method.pk)


def test_a_card_saved_with_stripe_waits_for_a_representative(
    account: Account, owner: User, stripe_browser: StripeBrowser
) -> None:
    method = _add(account, owner, stripe_browser, "4242424242424242")
    assert method.state == State.AWAITING_APPROVAL
    assert (method.gateway, method.brand, method.last4) == ("stripe", "visa", "4242")
    assert method.fingerprint and method.credential.startswith("cus_")
    customer = GatewayCustomer.objects.get(account=account)
    assert method.credential.split("/")[0] == customer.reference


def test_the_same_customer_is_used_for_every_card(
    account: Account, owner: User, stripe_browser: StripeBrowser
) -> None:
    _add(account, owner, stripe_browser, "4242424242424242")
    _add(account, owner, stripe_browser, "5555555555554444")
    assert GatewayCustomer.objects.filter(account=account).count() == 1


def test_a_card_whose_bank_challenge_is_completed_is_saved(
    account: Account, owner: User, stripe_browser: StripeBrowser
) -> None:
    method = _add(account, owner, stripe_browser, "4000002500003155")
    assert method.state == State.AWAITING_APPROVAL


def test_a_card_whose_bank_challenge_fails_is_rejected_with_why(
    account: Account, owner: User, stripe_browser: StripeBrowser
) -> None:
    method = _add(account, owner, stripe_browser, "4000002500003155", authenticate=False)
    assert method.state == State.REJECTED
    assert method.decline_code == "authentication_failed"
    assert method.reason == "Your bank's check of the card was not completed."


def test_a_declined_card_is_rejected(
    account: Account, owner: User, stripe_browser: StripeBrowser
) -> None:
    method = _add(account, owner, stripe_browser, "4000000000000002")
    assert method.state == State.REJECTED
    assert method.reason == "Your card was declined."


def test_another_accounts_setup_is_refused(
    account: Account,
    owner: User,
    other_account: Account,
    stranger: User,
    stripe_browser: StripeBrowser,
) -> None:
    setup = card_setup_start_for(account=other_account)
    assert setup is not None
    token = stripe_browser.confirm_setup(setup.client_secret, "4242424242424242")
    with pytest.raises(PaymentMethodError, match="could not be read"):
        payment_method_add(
            account=account,
            by=owner,
            token=token,
            address=BillingAddress.of_account(account),
            contact_email="cards@example.com",
        )
    assert not PaymentMethod.objects.exists()


def test_the_same_card_twice_is_refused(
    account: Account, owner: User, stripe_browser: StripeBrowser
) -> None:
    _add(account, owner, stripe_browser, "4242424242424242")
    with pytest.raises(PaymentMethodError, match="already on file"):
        _add(account, owner, stripe_browser, "4242424242424242")


def test_an_approved_card_is_charged_off_session_on_the_billing_day(
    account: Account, owner: User, rep: User, stripe_browser: StripeBrowser
) -> None:
    from billing.models import AutoCharge
    from invoices.models import RecurringCharge
    from payments.models import Payment
    from tests.billing.clock import run

    method = payment_method_approve(
        payment_method=_add(account, owner, stripe_browser, "4242424242424242"), by=rep
    )
    RecurringCharge.objects.create(
        account=account, description="VPS", unit_price=Decimal("25.00"), starts_on=date(2026, 10, 1)
    )
    run(date(2026, 10, 1))
    payment = Payment.objects.get()
    assert (payment.state, payment.payment_method, payment.amount) == (
        Payment.State.SUCCEEDED,
        method,
        Decimal("25.000"),
    )
    assert payment.reference.startswith("pi_")
    assert AutoCharge.objects.get().state == AutoCharge.State.SUCCEEDED


def test_a_card_saved_with_another_processor_is_not_charged_through_stripe(
    account: Account, owner: User, rep: User, add_card, request, localstripe: str
) -> None:
    from billing.models import AutoCharge
    from invoices.models import RecurringCharge
    from payments.cards import payment_method_set_monthly
    from payments.models import Payment
    from tests.billing.clock import run
    from tests.payments.stripe_support import stripe_list

    sandbox_card = payment_method_approve(payment_method=add_card(account, owner), by=rep)
    payment_method_set_monthly(payment_method=sandbox_card, by=owner)
    RecurringCharge.objects.create(
        account=account, description="VPS", unit_price=Decimal("40.00"), starts_on=date(2026, 10, 1)
    )
    request.getfixturevalue("stripe_gateway")
    run(date(2026, 10, 1))
    assert AutoCharge.objects.get().state == AutoCharge.State.NO_CARD
    assert not Payment.objects.exists()
    assert stripe_list(localstripe, "payment_intents") == []
