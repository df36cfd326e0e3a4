from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import Account, Membership, User
from tests.factories import AccountFactory, MembershipFactory

pytestmark = pytest.mark.django_db


def test_the_header_shows_the_account_and_the_user(owner_client: Client, account: Account) -> None:
    body = owner_client.get(reverse("accounts:settings")).content.decode()
    assert account.company_name in body
    assert "owner@example.com" in body


def test_a_user_in_two_accounts_switches_between_them(
    owner_client: Client, owner: User, account: Account
) -> None:
    second = AccountFactory(company_name="Second Company GmbH")
    MembershipFactory(user=owner, account=second, role=Membership.Role.VIEWER)

    response = owner_client.get(reverse("accounts:settings"))
    assert response.context["account"] == account

    response = owner_client.post(
        reverse("accounts:switch"),
        {"account": second.pk, "next": reverse("accounts:settings")},
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("accounts:settings")
    response = owner_client.get(reverse("accounts:settings"))
    assert response.context["account"] == second
    assert response.context["can_edit"] is False


def test_switching_to_an_account_the_user_is_not_in_is_a_404(
    owner_client: Client, other_account: Account
) -> None:
    response = owner_client.post(reverse("accounts:switch"), {"account": other_account.pk})
    assert response.status_code == 404
    response = owner_client.get(reverse("accounts:settings"))
    assert response.context["account"] != other_account


def test_switching_never_redirects_off_site(
    owner_client: Client, owner: User, account: Account
) -> None:
    response = owner_client.post(
        reverse("accounts:switch"), {"account": account.pk, "next": "https://evil.example/"}
    )
    assert response["Location"] == reverse("home")


def test_staff_without_an_account_are_told_there_is_nothing_to_show(
    client: Client, rep: User
) -> None:
    client.force_login(rep)
    response = client.get(reverse("accounts:settings"))
    assert response.status_code == 403
    assert "not a member of any customer account" in response.content.decode()
