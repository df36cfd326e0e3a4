from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import Account, User
from payments.models import PaymentMethod
from tests.conftest import admin_login, grant

pytestmark = pytest.mark.django_db
CHANGELIST = reverse("admin:payments_paymentmethod_changelist")


def test_the_queue_shows_cards_awaiting_approval_oldest_first_with_time_left(
    client: Client, approver: User, account: Account, owner: User, add_card
) -> None:
    first = add_card(account, owner)
    add_card(account, owner, "5555555555554444")
    admin_login(client, approver)
    response = client.get(CHANGELIST, {"queue": "awaiting"})
    body = response.content.decode()
    assert body.index("Visa •••• 4242") < body.index("Mastercard •••• 4444")
    assert "23 h" in body
    assert "Passed the gateway" in body
    assert first.pk in [m.pk for m in response.context["cl"].result_list]


def test_the_time_left_counts_down_to_the_configured_promise(
    client: Client, approver: User, account: Account, owner: User, add_card, settings
) -> None:
    settings.CARD_PROMISE_HOURS = 48
    add_card(account, owner)
    admin_login(client, approver)
    body = client.get(CHANGELIST, {"queue": "awaiting"}).content.decode()
    assert "47 h" in body


def test_a_representative_approves_and_rejects_with_admin_actions(
    client: Client, approver: User, account: Account, owner: User, add_card
) -> None:
    one = add_card(account, owner)
    two = add_card(account, owner, "5555555555554444")
    admin_login(client, approver)
    client.post(CHANGELIST, {"action": "approve", "_selected_action": [one.pk]})
    form = client.post(CHANGELIST, {"action": "reject", "_selected_action": [two.pk]})
    assert "Reason" in form.content.decode()
    client.post(
        CHANGELIST,
        {"action": "reject", "_selected_action": [two.pk], "apply": "1", "reason": "Stolen"},
    )
    one.refresh_from_db()
    two.refresh_from_db()
    assert (one.state, one.decided_by, one.is_monthly) == ("verified", approver, True)
    assert (two.state, two.rejection_reason) == ("rejected", "Stolen")


def test_staff_without_the_permission_cannot_approve(
    client: Client, rep: User, account: Account, owner: User, add_card
) -> None:
    grant(rep, "view_paymentmethod")
    method = add_card(account, owner)
    admin_login(client, rep)
    client.post(CHANGELIST, {"action": "approve", "_selected_action": [method.pk]})
    method.refresh_from_db()
    assert method.state == PaymentMethod.State.AWAITING_APPROVAL


def test_a_customer_cannot_approve_by_any_url(
    owner_client: Client, account: Account, owner: User, add_card
) -> None:
    method = add_card(account, owner)
    response = owner_client.post(CHANGELIST, {"action": "approve", "_selected_action": [method.pk]})
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
    method.refresh_from_db()
    assert method.state == PaymentMethod.State.AWAITING_APPROVAL


def test_the_admin_asks_staff_for_a_second_factor(client: Client, approver: User) -> None:
    from django_otp.oath import TOTP
    from django_otp.plugins.otp_totp.models import TOTPDevice

    device = TOTPDevice.objects.create(user=approver, name="phone", confirmed=True)
    approver.set_password("rep-pass-2026-long")
    approver.save()
    client.force_login(approver)  # a password alone is not enough
    assert client.get(CHANGELIST).status_code == 302

    login = reverse("admin:login")
    response = client.post(
        login, {"username": approver.email, "password": "rep-pass-2026-long", "otp_token": "000000"}
    )
    assert response.status_code == 200
    assert client.get(CHANGELIST).status_code == 302
    device.refresh_from_db()
    device.throttle_reset()  # a wrong code slows the next try down; the test need not wait

    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    response = client.post(
        login,
        {
            "username": approver.email,
            "password": "rep-pass-2026-long",
            "otp_token": str(totp.token()).zfill(6),
            "next": CHANGELIST,
        },
    )
    assert response.status_code == 302
    assert client.get(CHANGELIST).status_code == 200
