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


@pytest.mark.parametrize(
    ("page", "goes_to"),
    [
        ("invoices:detail", "invoices:list"),
        ("invoices:pdf", "invoices:list"),
        ("invoices:csv", "invoices:list"),
        ("payments:detail", "payments:pay"),
        ("payments:receipt_pdf", "payments:pay"),
        ("payments:confirm", "payments:pay"),
    ],
)
def test_switching_account_on_a_page_of_one_object_goes_to_its_list(
    owner_client: Client, owner: User, page: str, goes_to: str
) -> None:
    """Another account's invoice 12 is not this account's: its list is the same page there."""
    second = AccountFactory(company_name="Second Company GmbH")
    MembershipFactory(user=owner, account=second, role=Membership.Role.OWNER)

    response = owner_client.post(
        reverse("accounts:switch"), {"account": second.pk, "next": reverse(page, args=[12])}
    )

    assert response["Location"] == reverse(goes_to)
    assert owner_client.get(response["Location"]).status_code == 200


def test_switching_account_keeps_a_lists_filters_and_an_items_page_goes_to_invoices(
    owner_client: Client, owner: User
) -> None:
    second = AccountFactory(company_name="Second Company GmbH")
    MembershipFactory(user=owner, account=second, role=Membership.Role.OWNER)
    switch = reverse("accounts:switch")
    filtered = reverse("invoices:list") + "?type=recurring&page=2"

    assert (
        owner_client.post(switch, {"account": second.pk, "next": filtered})["Location"] == filtered
    )
    item = reverse("invoices:item", args=[12, 34])
    assert owner_client.post(switch, {"account": second.pk, "next": item})["Location"] == reverse(
        "invoices:list"
    )
    invitation = reverse("accounts:accept", args=["some-token"])
    assert owner_client.post(switch, {"account": second.pk, "next": invitation})[
        "Location"
    ] == reverse("home")
