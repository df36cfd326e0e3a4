"""The company's phone number: checked with libphonenumber, the company's country for a
number written without its code, kept in E.164, shown formatted."""

from __future__ import annotations

import importlib

import pytest
from django.apps import apps as global_apps
from django.test import Client
from django.urls import reverse

from accounts.models import Account
from accounts.phones import phone_display, phone_to_e164

pytestmark = pytest.mark.django_db

URL = reverse("accounts:settings")


def _company_form(**overrides: object) -> dict[str, object]:
    data: dict[str, object] = {
        "company_name": "上海云帆科技有限公司",
        "address_line1": "浦东新区世纪大道100号",
        "city": "上海市",
        "country": "CN",
        "phone": "021 5555 0100",
        "language": "zh-hans",
    }
    data.update(overrides)
    return data


def test_a_national_number_is_read_in_the_companys_country_and_kept_in_e164(
    owner_client: Client, account: Account
) -> None:
    response = owner_client.post(URL, _company_form(phone="021 5555 0100"))
    assert response.status_code == 302
    account.refresh_from_db()
    assert account.phone == "+862155550100"


def test_the_country_chosen_in_the_same_form_is_the_one_the_number_is_read_in(
    owner_client: Client, account: Account
) -> None:
    response = owner_client.post(URL, _company_form(country="US", phone="(202) 555-0143"))
    assert response.status_code == 302
    account.refresh_from_db()
    assert account.phone == "+12025550143"


def test_a_number_with_its_country_code_is_kept_whatever_the_companys_country(
    owner_client: Client, account: Account
) -> None:
    owner_client.post(URL, _company_form(phone="+353 1 555 0199"))
    account.refresh_from_db()
    assert account.phone == "+35315550199"


@pytest.mark.parametrize("text", ["not a phone", "123", "+1 555 0100", "+86 21 555"])
def test_what_is_not_a_phone_number_is_refused_with_a_clear_error(
    owner_client: Client, account: Account, text: str
) -> None:
    before = account.phone
    response = owner_client.post(URL, _company_form(phone=text))
    assert response.status_code == 200
    form = response.context["form"]
    assert form.errors["phone"] == ["Enter a valid phone number, such as +86 10 1234 5678."]
    body = response.content.decode()
    assert 'aria-invalid="true"' in body and 'aria-describedby="id_phone_error"' in body
    account.refresh_from_db()
    assert account.phone == before


def test_the_error_is_translated(owner_client: Client) -> None:
    response = owner_client.post(
        URL, _company_form(phone="not a phone"), headers={"accept-language": "zh-hans"}
    )
    assert "请输入有效的电话号码，例如 +86 10 1234 5678。" in response.content.decode()


def test_an_empty_phone_is_allowed(owner_client: Client, account: Account) -> None:
    assert owner_client.post(URL, _company_form(phone="")).status_code == 302
    account.refresh_from_db()
    assert account.phone == ""


def test_the_form_shows_the_number_formatted(owner_client: Client, account: Account) -> None:
    Account.objects.filter(pk=account.pk).update(phone="+862155550100")
    form = owner_client.get(URL).context["form"]
    assert form["phone"].value() == "+86 21 5555 0100"


def test_a_legacy_value_that_is_no_number_is_shown_as_it_was(
    owner_client: Client, account: Account
) -> None:
    Account.objects.filter(pk=account.pk).update(phone="ask for Li")
    assert owner_client.get(URL).context["form"]["phone"].value() == "ask for Li"


def test_numbers_are_shown_nationally_at_home_and_internationally_abroad() -> None:
    assert phone_display("+862155550100", region="CN") == "021 5555 0100"
    assert phone_display("+862155550100", region="US") == "+86 21 5555 0100"
    assert phone_display("+862155550100", region="CN", international=True) == "+86 21 5555 0100"
    assert phone_display("not a phone", region="CN") == "not a phone"
    assert phone_to_e164("(202) 555-0143", region="us") == "+12025550143"


def test_the_migration_normalises_valid_numbers_and_leaves_the_others(account: Account) -> None:
    migration = importlib.import_module("accounts.migrations.0007_account_phone_e164")
    Account.objects.filter(pk=account.pk).update(phone="021 5555 0100")
    other = Account.objects.create(
        company_name="Legacy Ltd",
        address_line1="1 Road",
        city="Town",
        country="US",
        phone="call reception",
    )
    migration.normalise_phones(global_apps, None)
    account.refresh_from_db()
    other.refresh_from_db()
    assert account.phone == "+862155550100"
    assert other.phone == "call reception"
