from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied
from django.test import Client
from django.urls import reverse

from accounts.models import Account, User
from accounts.services import account_update_company_info

pytestmark = pytest.mark.django_db

URL = reverse("accounts:settings")


def _company_form(**overrides: object) -> dict[str, object]:
    data: dict[str, object] = {
        "company_name": "杭州星河数据有限公司",
        "address_line1": "西湖区文三路 90 号",
        "address_line2": "",
        "city": "杭州市",
        "region": "浙江省",
        "postal_code": "310012",
        "country": "CN",
        "phone": "+86 571 5555 0000",
        "eu_supported": "on",
        "language": "zh-hans",
    }
    data.update(overrides)
    return data


def test_owner_edits_the_company_information(owner_client: Client, account: Account) -> None:
    response = owner_client.post(URL, _company_form())
    assert response.status_code == 302
    account.refresh_from_db()
    assert account.company_name == "杭州星河数据有限公司"
    assert account.city == "杭州市"
    assert account.eu_supported is True
    assert account.language == "zh-hans"
    page = owner_client.get(URL).content.decode()
    assert "The company information has been saved." in page


def test_missing_required_fields_are_shown_next_to_the_field_and_change_nothing(
    owner_client: Client, account: Account
) -> None:
    before = account.company_name
    response = owner_client.post(URL, _company_form(company_name="", city="Changed"))
    assert response.status_code == 200
    assert "This field is required." in response.content.decode()
    account.refresh_from_db()
    assert account.company_name == before
    assert account.city != "Changed"


def test_viewer_sees_the_company_information_read_only(
    viewer_client: Client, account: Account
) -> None:
    response = viewer_client.get(URL)
    assert response.status_code == 200
    body = response.content.decode()
    assert "Only an owner of the account can change the company information." in body
    assert account.company_name in body
    form = response.context["form"]
    assert all(field.disabled for field in form.fields.values())


def test_viewer_cannot_post_changes(viewer_client: Client, account: Account) -> None:
    response = viewer_client.post(URL, _company_form())
    assert response.status_code == 403
    account.refresh_from_db()
    assert account.company_name != "杭州星河数据有限公司"


def test_the_page_lists_the_users_and_their_roles(
    owner_client: Client, owner: User, viewer: User
) -> None:
    body = owner_client.get(URL).content.decode()
    assert owner.email in body
    assert viewer.email in body
    assert "Owner" in body
    assert "Viewer" in body


def test_a_stranger_sees_only_their_own_account(
    client: Client, stranger: User, account: Account, owner: User
) -> None:
    client.force_login(stranger)
    body = client.get(URL).content.decode()
    assert account.company_name not in body
    assert owner.email not in body


def test_the_service_refuses_anyone_but_an_owner(account: Account, viewer: User) -> None:
    with pytest.raises(PermissionDenied):
        account_update_company_info(account=account, by=viewer, company_name="Hijacked")
    account.refresh_from_db()
    assert account.company_name != "Hijacked"


def test_the_service_refuses_fields_that_are_not_company_information(
    account: Account, owner: User
) -> None:
    with pytest.raises(ValueError, match="billing_day"):
        account_update_company_info(account=account, by=owner, billing_day=5)
