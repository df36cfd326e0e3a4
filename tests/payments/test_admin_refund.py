"""The admin's refund: a form, then a confirmation with the numbers and what the customer will
see, and only "Yes" sends it to the gateway; amounts everywhere in the currency's decimals."""

from __future__ import annotations

import re
from decimal import Decimal as D

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import Account, User
from payments.core import new_key
from payments.models import PaymentRefund
from sandbox_gateway.models import SandboxRequest
from tests.conftest import IssueFn, admin_login, grant

pytestmark = pytest.mark.django_db


@pytest.fixture
def refunder(client: Client, rep: User) -> Client:
    grant(rep, "view_payment", "refund_payment", "view_invoice")
    admin_login(client, rep)
    return client


def _hidden(html: str, name: str) -> str:
    found = re.search(rf'<input type="hidden" name="{name}" value="([^"]*)"', html)
    assert found, f"no hidden {name}"
    return found.group(1)


def test_the_refund_is_shown_with_its_numbers_before_anything_reaches_the_gateway(
    refunder: Client, account: Account, owner: User, issue: IssueFn, pay_by_card
) -> None:
    invoice = issue(account, "60.00")
    payment = pay_by_card(account, owner, "60.00")
    url = reverse("admin:payments_payment_refund", args=[payment.pk])
    key = new_key()

    page = refunder.post(url, {"amount": "25", "reason": "Server down for a day", "key": key})

    assert page.status_code == 200
    html = page.content.decode()
    assert "Are you sure?" in html
    assert "Refund $25.00 to" in html
    assert "Visa •••• 4242" in html
    assert f"A Refund invoice against {invoice.number} of $25.00" in html
    assert "Server down for a day" in html
    assert "Yes, refund $25.00" in html
    cancel = reverse("admin:payments_payment_change", args=[payment.pk])
    assert f'href="{cancel}" class="button cancel-link"' in html
    # The confirmation carries the same form (and key) on, with the CSRF token.
    assert _hidden(html, "key") == key
    assert _hidden(html, "amount") == "25"
    assert _hidden(html, "confirm") == "yes"
    assert 'name="csrfmiddlewaretoken"' in html
    assert not PaymentRefund.objects.exists()
    assert not SandboxRequest.objects.filter(kind="refund").exists()


def test_a_confirmation_sent_twice_refunds_once(
    refunder: Client, account: Account, owner: User, issue: IssueFn, pay_by_card
) -> None:
    issue(account, "60.00")
    payment = pay_by_card(account, owner, "60.00")
    url = reverse("admin:payments_payment_refund", args=[payment.pk])
    form = {"amount": "25.00", "reason": "Goodwill", "key": new_key(), "confirm": "yes"}

    first = refunder.post(url, form, follow=True)
    second = refunder.post(url, form, follow=True)

    refund = PaymentRefund.objects.get()
    assert refund.amount == D("25.00") and refund.state == PaymentRefund.State.SUCCEEDED
    assert SandboxRequest.objects.filter(kind="refund").count() == 1
    for response in (first, second):
        assert "Refund of $25.00: Refunded." in response.content.decode()


def test_a_refused_amount_is_said_on_the_form_not_on_a_confirmation(
    refunder: Client, account: Account, owner: User, issue: IssueFn, pay_by_card
) -> None:
    issue(account, "60.00")
    payment = pay_by_card(account, owner, "60.00")
    url = reverse("admin:payments_payment_refund", args=[payment.pk])

    page = refunder.post(url, {"amount": "60.01", "reason": "Too much", "key": new_key()})

    html = page.content.decode()
    assert "cannot exceed what was paid and not yet refunded or credited ($60.00)" in html
    assert "Are you sure?" not in html
    assert "Review the refund" in html


def test_a_confirmation_without_the_permission_is_refused(
    client: Client, rep: User, account: Account, owner: User, issue: IssueFn, pay_by_card
) -> None:
    issue(account, "10.00")
    payment = pay_by_card(account, owner, "10.00")
    grant(rep, "view_payment")
    admin_login(client, rep)
    url = reverse("admin:payments_payment_refund", args=[payment.pk])
    form = {"amount": "10.00", "reason": "x", "key": new_key(), "confirm": "yes"}
    assert client.post(url, form).status_code == 403
    assert not PaymentRefund.objects.exists()


@pytest.mark.parametrize(
    ("currency", "amount", "shown"),
    [("USD", "1.00", "$1.00"), ("JPY", "1235", "¥1,235"), ("BHD", "1.250", "BHD1.250")],
)
def test_admin_pages_show_amounts_in_the_currencys_decimals(
    refunder: Client,
    rep: User,
    account: Account,
    owner: User,
    issue: IssueFn,
    pay_by_card,
    currency: str,
    amount: str,
    shown: str,
) -> None:
    invoice = issue(account, amount, currency=currency)
    payment = pay_by_card(account, owner, amount, currency=currency)
    pages = [
        reverse("admin:payments_payment_changelist"),
        reverse("admin:payments_payment_change", args=[payment.pk]),
        reverse("admin:payments_payment_refund", args=[payment.pk]),
        reverse("admin:invoices_invoice_changelist"),
        reverse("admin:invoices_invoice_change", args=[invoice.pk]),
    ]
    for url in pages:
        html = refunder.get(url).content.decode()
        assert shown in html, url
        # Django's own rendering of the database's three decimals appears nowhere.
        raw = f"{D(amount):.3f}"
        assert raw not in html or currency == "BHD", url


def test_amounts_in_the_admin_follow_the_readers_language(
    refunder: Client, account: Account, owner: User, issue: IssueFn, pay_by_card
) -> None:
    issue(account, "1234.50")
    payment = pay_by_card(account, owner, "1234.50")
    html = refunder.get(
        reverse("admin:payments_payment_change", args=[payment.pk]), HTTP_ACCEPT_LANGUAGE="zh-hans"
    ).content.decode()
    assert "US$1,234.50" in html
    assert "1234.500" not in html
