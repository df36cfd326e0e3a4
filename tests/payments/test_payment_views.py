"""The Payments page, the result and receipt pages, PayPal's return and the refund admin."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.models import Account, User
from invoices.balances import find_balance_mismatches
from invoices.models import Invoice
from payments.core import new_key
from payments.models import Payment, PaymentRefund
from payments.selectors import amount_owed
from sandbox_gateway import paypal as sandbox_paypal
from sandbox_gateway.models import SandboxRequest
from tests.conftest import IssueFn, admin_login, grant

D = Decimal
pytestmark = pytest.mark.django_db
PAY = "/payments/"


def _form(client: Client, **overrides: str) -> dict[str, str]:
    """The Payments form as the page renders it, with what the customer changed."""
    html = client.get(PAY).content.decode()
    data = {
        name: re.search(rf'name="{name}"[^>]*value="([^"]*)"', html).group(1)  # type: ignore[union-attr]
        for name in ("amount", "currency", "key")
    }
    data.update(use_company_info="on")
    data.update(overrides)
    return data


def test_the_page_shows_the_balance_and_offers_it_as_the_amount(
    owner_client: Client, account: Account, issue: IssueFn
) -> None:
    issue(account, "100.00")
    issue(account, "25.50")
    response = owner_client.get(PAY)
    html = response.content.decode()
    assert response.status_code == 200
    assert 'data-testid="balance-USD">$125.50' in html
    assert re.search(r'name="amount"[^>]*value="125.50"', html)
    assert "Pay with Credit Card" in html and "PayPal" in html
    assert "Credit Card Billing Address" in html and "EU Supported" in html


def test_a_card_payment_from_the_page_shows_the_result_and_a_replay_pays_nothing_more(
    owner_client: Client, account: Account, issue: IssueFn, card_token
) -> None:
    invoice = issue(account, "100.00")
    form = _form(owner_client, amount="40.00", card_token=card_token())

    first = owner_client.post(PAY, form)
    second = owner_client.post(PAY, form)

    assert first.status_code == second.status_code == 302
    assert first["Location"] == second["Location"]
    assert Payment.objects.count() == 1
    assert SandboxRequest.objects.filter(kind="charge").count() == 1
    page = owner_client.get(first["Location"]).content.decode()
    assert "Thank you: your payment was received" in page
    assert invoice.number in page and "$60.00" in page  # the new balance


def test_a_declined_card_shows_the_reason_and_the_form_again(
    owner_client: Client, account: Account, issue: IssueFn, card_token
) -> None:
    issue(account, "100.00")
    form = _form(owner_client, card_token=card_token("4000000000009995"))

    response = owner_client.post(PAY, form)

    html = response.content.decode()
    assert response.status_code == 402
    assert "Your card has insufficient funds." in html
    assert "Pay with Credit Card" in html
    new_key = re.search(r'name="key"[^>]*value="([^"]*)"', html).group(1)  # type: ignore[union-attr]
    assert new_key != form["key"]
    assert amount_owed(account, "USD") == D("100.00")


@pytest.mark.parametrize(
    ("amount", "message"),
    [
        ("0", "greater than zero"),
        ("-1", "greater than zero"),
        ("100.01", "more than the balance"),
        ("1.001", "at most 2 decimals"),
        ("ten", "Enter a number"),
        ("", "This field is required"),
    ],
)
def test_a_bad_amount_is_refused_with_a_message_and_nothing_is_charged(
    owner_client: Client, account: Account, issue: IssueFn, card_token, amount: str, message: str
) -> None:
    issue(account, "100.00")
    response = owner_client.post(PAY, _form(owner_client, amount=amount, card_token=card_token()))
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not Payment.objects.exists()
    assert not SandboxRequest.objects.exists()


def test_paypal_without_a_valid_amount_is_refused_too(
    owner_client: Client, account: Account, issue: IssueFn
) -> None:
    issue(account, "100.00")
    response = owner_client.post(reverse("payments:paypal_start"), _form(owner_client, amount="0"))
    assert response.status_code == 400
    assert not Payment.objects.exists()


def test_a_missing_card_is_asked_for(
    owner_client: Client, account: Account, issue: IssueFn
) -> None:
    issue(account, "100.00")
    response = owner_client.post(PAY, _form(owner_client))
    assert response.status_code == 400
    assert "Enter the card&#x27;s details." in response.content.decode()


def test_a_form_without_its_csrf_token_is_refused(
    owner: User, account: Account, issue: IssueFn, card_token
) -> None:
    issue(account, "100.00")
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)
    response = client.post(PAY, _form(client, card_token=card_token()))
    assert response.status_code == 403
    assert not Payment.objects.exists()


def test_paypal_round_trip_through_the_sandbox_approval_page(
    owner_client: Client, account: Account, issue: IssueFn
) -> None:
    invoice = issue(account, "100.00")
    started = owner_client.post(reverse("payments:paypal_start"), _form(owner_client))
    assert started.status_code == 302
    approval = started["Location"]
    assert approval.startswith("/sandbox-gateway/paypal/checkoutnow?token=")
    assert "$100.00" in owner_client.get(approval).content.decode()

    order_id = approval.split("token=")[1]
    back = owner_client.post(approval, {"token": order_id, "decision": "approve"})
    assert back["Location"].startswith("http://testserver/payments/paypal/return/?token=")
    result = owner_client.get(back["Location"])
    page = owner_client.get(result["Location"]).content.decode()

    assert "Thank you: your payment was received" in page
    invoice.refresh_from_db()
    assert invoice.state == Invoice.State.PAID
    # Coming back again (a refresh of the return URL) captures nothing more.
    owner_client.get(back["Location"])
    assert Payment.objects.get().allocations.count() == 1


def test_cancelling_at_paypal_applies_nothing_and_says_so(
    owner_client: Client, account: Account, issue: IssueFn
) -> None:
    issue(account, "100.00")
    approval = owner_client.post(reverse("payments:paypal_start"), _form(owner_client))["Location"]
    order_id = approval.split("token=")[1]
    back = owner_client.post(approval, {"token": order_id, "decision": "cancel"})

    page = owner_client.get(back["Location"], follow=True).content.decode()

    assert "You cancelled the payment at PayPal. Nothing was charged." in page
    assert Payment.objects.get().state == Payment.State.CANCELLED
    assert amount_owed(account, "USD") == D("100.00")


def test_a_viewer_sees_the_balance_and_history_but_cannot_pay(
    viewer_client: Client, account: Account, owner: User, issue: IssueFn, card_token, pay_by_card
) -> None:
    issue(account, "100.00")
    pay_by_card(account, owner, "10.00")
    page = viewer_client.get(PAY).content.decode()
    assert "$90.00" in page and 'data-testid="payment-history"' in page
    assert "Pay with Credit Card" not in page and 'name="amount"' not in page

    form = {"amount": "90.00", "currency": "USD", "key": new_key(), "card_token": card_token()}
    assert viewer_client.post(PAY, form).status_code == 403
    assert viewer_client.post(reverse("payments:paypal_start"), form).status_code == 403
    assert Payment.objects.count() == 1


def test_another_accounts_payment_is_a_404(
    client: Client, stranger: User, account: Account, owner: User, issue: IssueFn, pay_by_card
) -> None:
    issue(account, "100.00")
    payment = pay_by_card(account, owner, "10.00")
    client.force_login(stranger)
    assert client.get(reverse("payments:detail", args=[payment.pk])).status_code == 404
    assert client.get(reverse("payments:receipt_pdf", args=[payment.pk])).status_code == 404
    assert client.get(reverse("payments:paypal_return") + "?token=PPX").status_code == 404


def test_the_receipt_pdf_is_in_the_readers_language(
    owner_client: Client, account: Account, owner: User, issue: IssueFn, pay_by_card
) -> None:
    invoice = issue(account, "100.00")
    payment = pay_by_card(account, owner, "100.00")
    response = owner_client.get(
        reverse("payments:receipt_pdf", args=[payment.pk]), HTTP_ACCEPT_LANGUAGE="zh-hans"
    )
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    from io import BytesIO

    from pypdf import PdfReader

    text = PdfReader(BytesIO(response.content)).pages[0].extract_text()
    assert "付款收据" in text and invoice.number in text and "4242" in text


def test_the_history_costs_the_same_queries_for_few_and_many_payments(
    owner_client: Client, account: Account, owner: User, issue: IssueFn, pay_by_card, settings
) -> None:
    settings.CARD_DECLINES_PER_HOUR = 100
    settings.CARD_DISTINCT_PER_HOUR = 100
    for _ in range(6):
        issue(account, "10.00")

    def pay(count: int) -> None:
        for _ in range(count):
            pay_by_card(account, owner, "1.50")

    pay(2)
    with CaptureQueriesContext(connection) as few:
        assert owner_client.get(PAY).status_code == 200
    pay(18)
    with CaptureQueriesContext(connection) as many:
        assert owner_client.get(PAY).status_code == 200
    assert len(many) == len(few)


# The refund admin ------------------------------------------------------------------------------


def test_staff_refund_part_of_a_payment_and_never_more_than_was_captured(
    client: Client, rep: User, account: Account, owner: User, issue: IssueFn, pay_by_card
) -> None:
    first = issue(account, "60.00")
    second = issue(account, "40.00")
    payment = pay_by_card(account, owner, "100.00")
    grant(rep, "view_payment", "refund_payment")
    admin_login(client, rep)
    url = reverse("admin:payments_payment_refund", args=[payment.pk])
    assert (
        client.get(reverse("admin:payments_payment_change", args=[payment.pk])).status_code == 200
    )

    form = {"amount": "50.00", "reason": "Server down for a week", "key": new_key()}
    confirmation = client.post(url, form)  # first the numbers, nothing sent yet
    assert confirmation.status_code == 200
    assert not PaymentRefund.objects.exists()
    response = client.post(url, {**form, "confirm": "yes"})
    assert client.post(url, {**form, "confirm": "yes"}).status_code == 302  # a double click

    assert response.status_code == 302
    refund = PaymentRefund.objects.get()
    assert refund.state == PaymentRefund.State.SUCCEEDED
    # The most recent invoice the payment paid is refunded first.
    documents = sorted(refund.documents.all(), key=lambda doc: doc.refers_to_id or 0)
    assert [(doc.refers_to, -doc.total) for doc in documents] == [
        (first, D("10.00")),
        (second, D("40.00")),
    ]
    assert SandboxRequest.objects.filter(kind="refund", outcome="succeeded").count() == 1

    too_much = client.post(url, {"amount": "50.01", "reason": "Again", "key": new_key()})
    assert too_much.status_code == 200
    assert "cannot exceed what was paid" in too_much.content.decode()
    assert PaymentRefund.objects.count() == 1
    assert find_balance_mismatches() == []


def test_refunding_needs_the_permission(
    client: Client, rep: User, account: Account, owner: User, issue: IssueFn, pay_by_card
) -> None:
    issue(account, "10.00")
    payment = pay_by_card(account, owner, "10.00")
    grant(rep, "view_payment")
    admin_login(client, rep)
    url = reverse("admin:payments_payment_refund", args=[payment.pk])
    form = {"amount": "10.00", "reason": "x", "key": new_key()}
    assert client.post(url, form).status_code == 403
    assert not PaymentRefund.objects.exists()


def test_sandbox_orders_are_approved_only_once(account: Account, owner: User) -> None:
    order = sandbox_paypal.create_order(
        amount=D("5.00"),
        currency="USD",
        reference="1",
        description="",
        return_url="http://testserver/r",
        cancel_url="http://testserver/c",
        request_id="r-1",
    )
    assert (
        sandbox_paypal.create_order(
            amount=D("5.00"),
            currency="USD",
            reference="1",
            description="",
            return_url="http://testserver/r",
            cancel_url="http://testserver/c",
            request_id="r-1",
        ).order_id
        == order.order_id
    )


def test_company_information_and_eu_support_go_with_a_card_payment(
    owner_client: Client, account: Account, issue: IssueFn, card_token
) -> None:
    issue(account, "100.00")
    assert not account.eu_supported
    form = _form(owner_client, card_token=card_token(), eu_supported="on")

    assert owner_client.post(PAY, form).status_code == 302

    payment = Payment.objects.get()
    assert (payment.address_line1, payment.city) == (account.address_line1, account.city)
    account.refresh_from_db()
    assert account.eu_supported


def test_past_the_card_testing_limit_paying_by_card_is_a_clear_429(
    owner_client: Client, account: Account, issue: IssueFn, card_token, settings
) -> None:
    settings.CARD_DECLINES_PER_HOUR = 1
    issue(account, "100.00")
    # A declined payment counts (a successful one would not).
    declined = card_token("4000000000000002")
    owner_client.post(PAY, _form(owner_client, amount="1.00", card_token=declined))

    response = owner_client.post(PAY, _form(owner_client, amount="1.00", card_token=card_token()))

    assert response.status_code == 429
    assert "Too many cards were tried recently" in response.content.decode()
    assert Payment.objects.count() == 1


def test_past_the_card_testing_limit_paypal_and_the_saved_card_are_offered_and_pay(
    owner_client: Client,
    account: Account,
    owner: User,
    approver: User,
    issue: IssueFn,
    add_card,
    card_token,
    settings,
) -> None:
    from payments.cards import payment_method_approve

    settings.CARD_DECLINES_PER_HOUR = 1
    issue(account, "100.00")
    saved = payment_method_approve(payment_method=add_card(account, owner), by=approver)
    declined = card_token("4000000000000002")
    owner_client.post(PAY, _form(owner_client, amount="30.00", card_token=declined))

    response = owner_client.post(PAY, _form(owner_client, amount="30.00", card_token=card_token()))

    assert response.status_code == 429
    page = response.content.decode()
    assert "Other ways to pay" in page and "You can still pay $30.00 now" in page
    assert reverse("payments:paypal_start") in page
    assert f'name="payment_method" value="{saved.pk}"' in page
    assert "Pay with Visa •••• 4242" in page

    form = {
        "amount": "30.00",
        "currency": "USD",
        "key": response.context["saved_card_key"],
        "payment_method": saved.pk,
    }
    paid = owner_client.post(reverse("payments:card_on_file"), form)
    payment = Payment.objects.get(key=form["key"])
    assert paid["Location"] == reverse("payments:detail", args=[payment.pk])
    assert (payment.state, payment.method, payment.amount, payment.payment_method) == (
        Payment.State.SUCCEEDED,
        Payment.Method.CARD_ON_FILE,
        Decimal("30.00"),
        saved,
    )
    # The same form again is the same payment.
    owner_client.post(reverse("payments:card_on_file"), form)
    assert Payment.objects.filter(method=Payment.Method.CARD_ON_FILE).count() == 1


def test_a_card_not_verified_or_of_another_account_is_not_charged_from_the_form(
    owner_client: Client,
    account: Account,
    owner: User,
    other_account: Account,
    stranger: User,
    approver: User,
    issue: IssueFn,
    add_card,
) -> None:
    from payments.cards import payment_method_approve

    issue(account, "100.00")
    pending = add_card(account, owner)
    theirs = payment_method_approve(payment_method=add_card(other_account, stranger), by=approver)
    for card in (pending, theirs):
        response = owner_client.post(
            reverse("payments:card_on_file"),
            {"amount": "10.00", "currency": "USD", "key": new_key(), "payment_method": card.pk},
        )
        assert response["Location"] == PAY
    assert not Payment.objects.exists()


def test_without_a_saved_card_the_limit_page_offers_paypal_only(
    owner_client: Client, account: Account, issue: IssueFn, card_token, settings
) -> None:
    settings.CARD_DECLINES_PER_HOUR = 1
    issue(account, "100.00")
    owner_client.post(PAY, _form(owner_client, card_token=card_token("4000000000000002")))
    page = owner_client.post(PAY, _form(owner_client, card_token=card_token())).content.decode()
    assert "Pay with PayPal" in page and "payment_method" not in page


@pytest.mark.parametrize("amount", ["12.00", "abc", "NaN", "1e999999", ""])
def test_the_page_of_the_other_ways_to_pay_takes_any_amount_and_offers_at_most_the_balance(
    owner_client: Client, account: Account, issue: IssueFn, amount: str
) -> None:
    """Where card fields that confirm in the browser (Stripe) go past the limits."""
    issue(account, "100.00")
    response = owner_client.get(reverse("payments:too_many"), {"amount": amount})
    assert response.status_code == 429
    page = response.content.decode()
    assert "Too many cards were tried recently" in page
    offered = "$12.00" if amount == "12.00" else "$100.00"
    assert f"You can still pay {offered} now" in page
