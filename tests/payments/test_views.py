from __future__ import annotations

import logging

import pytest
from django.apps import apps
from django.db import models
from django.test import Client
from django.urls import reverse

from accounts.models import Account, OutboundEmail, User
from payments.gateways import card_gateway
from payments.models import PaymentMethod

pytestmark = pytest.mark.django_db
ADD = reverse("payments:add")
LIST = reverse("payments:methods")


def _form(**overrides: object) -> dict[str, object]:
    data: dict[str, object] = {
        "address_line1": "1 Main Street",
        "city": "Springfield",
        "country": "US",
        "contact_email": "billing@example.com",
    }
    data.update(overrides)
    return data


def test_the_page_lists_the_cards_with_their_state(
    owner_client: Client, account: Account, owner: User, rep: User, add_card
) -> None:
    from payments.cards import payment_method_approve

    payment_method_approve(payment_method=add_card(account, owner), by=rep)
    add_card(account, owner, "5555555555554444")
    body = owner_client.get(LIST).content.decode()
    assert "Visa •••• 4242" in body and "Mastercard •••• 4444" in body
    assert "Monthly payment method" in body
    assert "Pending" in body
    assert "Add Credit Card" in body


def test_adding_a_card_with_company_information(
    owner_client: Client, account: Account, card_token, django_capture_on_commit_callbacks
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post(
            ADD,
            _form(
                use_company_info="on",
                address_line1="ignored",
                city="ignored",
                eu_supported="on",
                card_token=card_token(),
            ),
        )
    assert response.status_code == 302
    method = PaymentMethod.objects.get()
    assert method.address_line1 == account.address_line1
    assert method.city == account.city
    assert method.country == account.country
    # The worker ran after the commit (in-process here).
    assert method.state == PaymentMethod.State.AWAITING_APPROVAL
    account.refresh_from_db()
    assert account.eu_supported is True
    # What the list says of the card is what became of it: it passed the gateway's check.
    assert response["Location"] == f"{LIST}?added={method.pk}"
    said = owner_client.get(response["Location"]).content.decode()
    assert "passed the card issuer's check and is pending approval" in said


def test_the_form_starts_with_the_users_email_and_the_company_info_for_the_browser(
    owner_client: Client, account: Account
) -> None:
    response = owner_client.get(ADD)
    body = response.content.decode()
    assert response.context["form"].initial["contact_email"] == "owner@example.com"
    assert 'id="company-info"' in body and account.city in body
    assert "/sandbox-gateway/v1/card-fields" in body
    assert "Billing Address" in body and "Payment Information" in body
    assert "Use company information" in body and "EU Supported" in body


def test_missing_address_fields_and_token_are_shown_and_change_nothing(
    owner_client: Client, account: Account
) -> None:
    response = owner_client.post(ADD, _form(address_line1="", city="", card_token=""))
    assert response.status_code == 400
    form = response.context["form"]
    assert "address_line1" in form.errors and "city" in form.errors
    assert "card_token" in form.errors
    assert form["contact_email"].value() == "billing@example.com"  # kept what was typed
    assert not PaymentMethod.objects.exists()


def test_a_forged_token_is_refused(owner_client: Client) -> None:
    response = owner_client.post(ADD, _form(card_token="tok_forged"))
    assert response.status_code == 400
    assert "could not be read" in response.content.decode()
    assert not PaymentMethod.objects.exists()


def test_fields_a_customer_may_not_set_are_ignored(owner_client: Client, card_token) -> None:
    owner_client.post(
        ADD,
        _form(card_token=card_token(), state="verified", is_monthly="on", decided_by="1"),
    )
    method = PaymentMethod.objects.get()
    assert method.state == PaymentMethod.State.VERIFYING
    assert not method.is_monthly and method.decided_by is None


def test_past_the_limit_a_clear_429_and_no_card(owner_client: Client, card_token, settings) -> None:
    settings.CARD_DECLINES_PER_HOUR = 1
    owner_client.post(ADD, _form(card_token=card_token("4000000000000002")))
    response = owner_client.post(ADD, _form(card_token=card_token()))
    assert response.status_code == 429
    assert "Too many cards were tried recently" in response.content.decode()
    assert PaymentMethod.objects.count() == 1


def test_a_viewer_sees_the_cards_but_cannot_change_them(
    viewer_client: Client, account: Account, owner: User, add_card, card_token
) -> None:
    method = add_card(account, owner)
    body = viewer_client.get(LIST).content.decode()
    assert "Visa •••• 4242" in body
    assert "Add Credit Card" not in body and "Remove" not in body
    assert viewer_client.get(ADD).status_code == 403
    assert viewer_client.post(ADD, _form(card_token=card_token())).status_code == 403
    assert viewer_client.post(reverse("payments:remove", args=[method.pk])).status_code == 403
    assert viewer_client.post(reverse("payments:monthly", args=[method.pk])).status_code == 403
    method.refresh_from_db()
    assert method.state == PaymentMethod.State.AWAITING_APPROVAL


def test_a_strangers_card_is_a_404(
    client: Client, stranger: User, account: Account, owner: User, add_card
) -> None:
    method = add_card(account, owner)
    client.force_login(stranger)
    assert client.post(reverse("payments:remove", args=[method.pk])).status_code == 404
    assert client.post(reverse("payments:monthly", args=[method.pk])).status_code == 404
    assert "4242" not in client.get(LIST).content.decode()
    method.refresh_from_db()
    assert method.state != PaymentMethod.State.REMOVED


def test_making_a_card_monthly_and_removing_one(
    owner_client: Client, account: Account, owner: User, rep: User, add_card
) -> None:
    from payments.cards import payment_method_approve

    first = payment_method_approve(payment_method=add_card(account, owner), by=rep)
    second = payment_method_approve(
        payment_method=add_card(account, owner, "5555555555554444"), by=rep
    )
    owner_client.post(reverse("payments:monthly", args=[second.pk]))
    second.refresh_from_db()
    assert second.is_monthly
    owner_client.post(reverse("payments:remove", args=[first.pk]))
    first.refresh_from_db()
    assert first.state == PaymentMethod.State.REMOVED
    assert "Mastercard •••• 4444" in owner_client.get(reverse("invoices:list")).content.decode()


PORTAL_FORMS = [
    ("payments:add", {}),
    ("payments:pay", {"amount": "10.00", "currency": "USD", "key": "k" * 32}),
    ("payments:paypal_start", {"amount": "10.00", "currency": "USD", "key": "k" * 32}),
    ("payments:card_start", {"amount": "10.00", "currency": "USD", "key": "k" * 32}),
    ("payments:confirm", {}),
    ("payments:stripe_webhook", {}),
    ("accounts:settings", {}),
    ("login", {}),
    ("password_reset", {}),
    ("accounts:switch", {}),
    ("set_language", {}),
]


@pytest.mark.parametrize(("name", "extra"), PORTAL_FORMS)
def test_card_numbers_posted_to_any_portal_form_are_refused_and_kept_nowhere(
    owner_client: Client, account: Account, caplog, name: str, extra: dict[str, str]
) -> None:
    caplog.set_level(logging.DEBUG)
    number, cvc = "4242424242424242", "987"
    for payload in (
        {"card_number": number, "cvc": cvc},
        {"address_line1": f"{number[:4]} {number[4:8]} {number[8:12]} {number[12:]}"},
        {"contact_email": "a@example.com", "security_code": cvc},
    ):
        url = reverse(name, args=[1]) if name == "payments:confirm" else reverse(name)
        response = owner_client.post(url, {**_form(), **payload, **extra})
        assert response.status_code == 400
        assert "never sent to this portal" in response.content.decode()
    assert number not in caplog.text and cvc not in caplog.text
    assert not PaymentMethod.objects.exists()
    assert not OutboundEmail.objects.exists()
    for model in apps.get_models():
        text_fields = [
            f.name
            for f in model._meta.fields
            if isinstance(f, (models.CharField, models.TextField, models.JSONField))
        ]
        for row in model.objects.values_list(*text_fields) if text_fields else []:
            assert number not in str(row), model


def test_a_card_number_in_a_query_string_is_refused_and_never_shown_back(
    owner_client: Client,
) -> None:
    response = owner_client.get(reverse("invoices:list"), {"date_from": "4242424242424242"})
    assert response.status_code == 400
    assert "4242424242424242" not in response.content.decode()


def test_after_an_error_the_used_token_is_not_sent_back(owner_client: Client) -> None:
    response = owner_client.post(ADD, _form(card_token="tok_forged"))
    assert 'value="tok_forged"' not in response.content.decode()


@pytest.fixture
def other_card_gateway(settings):
    """A card gateway whose fields come from its own origins (see tests/payments/live_adapter)."""
    settings.CARD_GATEWAY = "tests.payments.live_adapter.LiveCardGateway"
    card_gateway.cache_clear()
    yield card_gateway()
    card_gateway.cache_clear()


def test_the_card_pages_let_the_gateways_fields_load_and_nothing_else(
    owner_client: Client, account: Account, other_card_gateway
) -> None:
    for url in (reverse("payments:add"), reverse("payments:pay")):
        policy = owner_client.get(url)["Content-Security-Policy"]
        assert "frame-src 'self' https://cards.example.com" in policy
        assert "connect-src 'self' https://api.cards.example.com" in policy
        assert "script-src 'self' 'nonce-" in policy
    # Pages without card fields keep the portal's own policy.
    policy = owner_client.get(reverse("invoices:list"))["Content-Security-Policy"]
    assert "cards.example.com" not in policy


def test_a_card_the_gateway_declines_is_said_to_be_declined_not_added(
    owner_client: Client, card_token, django_capture_on_commit_callbacks
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post(ADD, _form(card_token=card_token("4000000000009995")))

    said = owner_client.get(response["Location"]).content.decode()
    assert "Your card ending 9995 was not accepted: Your card has insufficient funds." in said
    assert 'role="alert"' in said
    assert "pending" not in said.lower().split('data-testid="card-outcome"')[1].split("</p>")[0]


def test_a_card_still_being_checked_is_said_so_and_the_list_asks_again(
    owner_client: Client, card_token, monkeypatch
) -> None:
    # The worker has not run yet (a real worker answers in a second or two).
    monkeypatch.setattr("payments.tasks.payment_method_verify_task.delay", lambda pk: None)
    response = owner_client.post(ADD, _form(card_token=card_token()))

    page = owner_client.get(response["Location"]).content.decode()
    assert "was added and is being checked with the card issuer" in page
    assert 'hx-trigger="every 2s"' in page
    method = PaymentMethod.objects.get()
    method.state = PaymentMethod.State.REJECTED
    method.decline_code = "incorrect_cvc"
    method.save()
    again = owner_client.get(
        response["Location"], HTTP_HX_REQUEST="true", HTTP_HX_TARGET="card-list"
    ).content.decode()
    assert again.lstrip().startswith('<div id="card-list"')
    assert "was not accepted: Your card&#x27;s security code is incorrect." in again
    assert "hx-trigger" not in again
