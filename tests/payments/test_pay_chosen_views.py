"""The Payments page with chosen invoices ("Pay selected", "Pay this invoice") and the card on
file as the first way to pay."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import Account, User
from invoices.models import Invoice
from payments.cards import payment_method_approve
from payments.models import Payment, PaymentMethod
from sandbox_gateway.models import SandboxRequest
from tests.conftest import IssueFn

D = Decimal
pytestmark = pytest.mark.django_db
PAY = reverse("payments:pay")


def _form(html: str, **overrides: str) -> dict[str, str]:
    """The Payments form's hidden and amount fields as the page rendered them."""
    data = {
        name: re.search(rf'name="{name}"[^>]*value="([^"]*)"', html).group(1)  # type: ignore[union-attr]
        for name in ("amount", "currency", "key", "invoices")
    }
    data.update(overrides)
    return data


def _paid(payment: Payment) -> list[str]:
    return [
        link.allocation.invoice.number
        for link in payment.allocations.select_related("allocation__invoice").order_by("pk")
    ]


@pytest.fixture
def invoices(account: Account, issue: IssueFn) -> list[Invoice]:
    from datetime import date

    return [
        issue(account, "100.00", on=date(2026, 9, 1)),
        issue(account, "40.00", on=date(2026, 10, 1)),
        issue(account, "50.00", on=date(2026, 11, 1)),
    ]


def test_the_page_shows_the_chosen_invoices_and_their_total_as_the_amount(
    owner_client: Client, invoices: list[Invoice]
) -> None:
    _oldest, middle, newest = invoices
    response = owner_client.get(PAY, {"invoice": [newest.pk, middle.pk]})
    html = response.content.decode()
    assert response.status_code == 200
    assert [i.number for i in response.context["chosen"].invoices] == [newest.number, middle.number]
    assert html.index(newest.number) < html.index(middle.number)
    assert 'data-testid="chosen-total">$90.00' in html
    assert re.search(r'name="amount"[^>]*value="90.00"', html)
    assert f'name="invoices" value="{newest.pk},{middle.pk}"' in html
    assert 'data-testid="balance-USD">$190.00' in html


def test_paying_by_new_card_from_the_page_pays_the_chosen_invoices(
    owner_client: Client, invoices: list[Invoice], card_token
) -> None:
    _oldest, _middle, newest = invoices
    html = owner_client.get(PAY, {"invoice": [newest.pk]}).content.decode()
    response = owner_client.post(PAY, _form(html, use_company_info="on", card_token=card_token()))
    payment = Payment.objects.get()
    assert response["Location"] == reverse("payments:detail", args=[payment.pk])
    assert _paid(payment) == [newest.number]
    assert not PaymentMethod.objects.exists()


def test_the_saved_card_is_the_first_choice_and_pays_the_chosen_invoices_once(
    owner_client: Client,
    account: Account,
    owner: User,
    approver: User,
    invoices: list[Invoice],
    add_card,
) -> None:
    _oldest, middle, newest = invoices
    card = payment_method_approve(payment_method=add_card(account, owner), by=approver)
    html = owner_client.get(PAY, {"invoice": [middle.pk, newest.pk]}).content.decode()
    saved = html.index('data-testid="pay-with-saved-card"')
    assert "Pay with Visa •••• 4242" in html
    assert saved < html.index('data-testid="pay-with-card"') < html.index("pay-with-paypal")

    form = _form(html, payment_method=str(card.pk))
    first = owner_client.post(reverse("payments:card_on_file"), form)
    second = owner_client.post(reverse("payments:card_on_file"), form)

    payment = Payment.objects.get()
    assert first["Location"] == second["Location"]
    assert (payment.method, payment.payment_method) == (Payment.Method.CARD_ON_FILE, card)
    assert _paid(payment) == [middle.number, newest.number]
    assert SandboxRequest.objects.filter(kind="charge").count() == 1
    card.refresh_from_db()
    assert card.is_monthly and card.state == PaymentMethod.State.VERIFIED


def test_without_a_verified_card_no_saved_card_is_offered(
    owner_client: Client, account: Account, owner: User, invoices: list[Invoice], add_card
) -> None:
    add_card(account, owner)  # awaiting a representative's approval
    html = owner_client.get(PAY).content.decode()
    assert "pay-with-saved-card" not in html and "Pay with Credit Card" in html


def test_another_accounts_invoice_is_a_404_and_nothing_changes(
    owner_client: Client,
    other_account: Account,
    issue: IssueFn,
    invoices: list[Invoice],
    card_token,
) -> None:
    theirs = issue(other_account, "100.00")
    assert owner_client.get(PAY, {"invoice": [invoices[0].pk, theirs.pk]}).status_code == 404
    # Sent in the form instead: refused with a message, nothing charged.
    html = owner_client.get(PAY, {"invoice": [invoices[0].pk]}).content.decode()
    response = owner_client.post(
        PAY,
        _form(html, invoices=str(theirs.pk), use_company_info="on", card_token=card_token()),
    )
    assert response.status_code == 400
    assert "An invoice you chose is not an invoice of this account." in response.content.decode()
    assert not Payment.objects.exists()
    assert not SandboxRequest.objects.filter(kind="charge").exists()


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"invoice": "abc"}, "The chosen invoices could not be read."),
        ({"invoice": "1e3"}, "The chosen invoices could not be read."),
    ],
)
def test_garbage_ids_are_a_clear_error(
    owner_client: Client, invoices: list[Invoice], query: dict[str, str], message: str
) -> None:
    response = owner_client.get(PAY, query)
    assert response.status_code == 400
    html = response.content.decode()
    assert 'data-testid="chosen-error"' in html and message in html
    assert response.context["chosen"] is None


def test_a_paid_invoice_and_mixed_currencies_are_clear_errors(
    owner_client: Client,
    account: Account,
    owner: User,
    issue: IssueFn,
    invoices: list[Invoice],
    pay_by_card,
) -> None:
    paid = issue(account, "20.00")
    pay_by_card(account, owner, "20.00", invoices=[paid.pk])
    response = owner_client.get(PAY, {"invoice": [paid.pk]})
    assert response.status_code == 400
    assert f"Invoice {paid.number} is already paid." in response.content.decode()

    yuan = issue(account, "700.00", currency="CNY")
    response = owner_client.get(PAY, {"invoice": [invoices[0].pk, yuan.pk]})
    assert response.status_code == 400
    assert "different currencies (CNY, USD)" in response.content.decode()
    assert Payment.objects.count() == 1


def test_chosen_invoices_in_another_currency_set_the_pages_currency(
    owner_client: Client, account: Account, issue: IssueFn, invoices: list[Invoice]
) -> None:
    yuan = issue(account, "700.00", currency="CNY")
    response = owner_client.get(PAY, {"invoice": [yuan.pk]})
    assert response.context["currency"] == "CNY"
    assert re.search(r'name="amount"[^>]*value="700.00"', response.content.decode())


def test_paypal_from_the_page_carries_the_chosen_invoices(
    owner_client: Client, invoices: list[Invoice]
) -> None:
    from sandbox_gateway import paypal as sandbox_paypal

    _oldest, middle, _newest = invoices
    html = owner_client.get(PAY, {"invoice": [middle.pk]}).content.decode()
    owner_client.post(reverse("payments:paypal_start"), _form(html))
    payment = Payment.objects.get()
    assert payment.chosen_invoices == [middle.pk]
    sandbox_paypal.decide(payment.order_id, approve=True)
    owner_client.get(reverse("payments:paypal_return"), {"token": payment.order_id})
    payment.refresh_from_db()
    assert _paid(payment) == [middle.number]


def test_a_viewer_cannot_pay_chosen_invoices(
    viewer_client: Client, invoices: list[Invoice]
) -> None:
    response = viewer_client.get(PAY, {"invoice": [invoices[0].pk]})
    html = response.content.decode()
    assert "pay-with-saved-card" not in html and 'name="invoices"' not in html
