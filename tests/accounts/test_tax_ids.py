"""The account's tax ID: python-stdnum validation, the Settings page, VIES and its re-check."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from django.conf import settings as django_settings
from django.core import checks
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse

from accounts.models import Account, AuditEntry, TaxIdKind, TaxIdStatus
from accounts.tasks import tax_ids_recheck_task
from accounts.tax_ids import tax_id_clean, vies_check
from portal.checks import check_seller_tax_data, check_seller_tax_data_deploy

from .vies_server import FakeVies

pytestmark = pytest.mark.django_db

URL = reverse("accounts:tax_id")
SETTINGS = reverse("accounts:settings")
FR_VAT = "FR40303265045"


@pytest.fixture
def vies(settings) -> Iterator[FakeVies]:  # type: ignore[no-untyped-def]
    server = FakeVies()
    server.start()
    settings.VIES_CHECK = True
    settings.VIES_URL = server.url
    settings.VIES_TIMEOUT = 1.0
    settings.SELLER_VAT_ID = "DE136695976"
    yield server
    server.stop()


def _post(client: Client, kind: str, number: str, title: str = "", **headers: str):  # type: ignore[no-untyped-def]
    return client.post(
        URL, {"tax_id_kind": kind, "tax_id": number, "invoice_title": title}, **headers
    )


# python-stdnum ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "given", "kept"),
    [
        (TaxIdKind.EU_VAT, "FR 40 303 265 045", FR_VAT),
        (TaxIdKind.EU_VAT, "de136695976", "DE136695976"),
        (TaxIdKind.EU_VAT, "EL094259216", "EL094259216"),
        (TaxIdKind.GB_VAT, "GB 980 7806 84", "GB980780684"),
        (TaxIdKind.GB_VAT, "980780684", "GB980780684"),
        (TaxIdKind.CN_USCC, "91110000600037341L", "91110000600037341L"),
        (TaxIdKind.OTHER, " 12-3456789 ", "12-3456789"),
    ],
)
def test_valid_tax_ids_are_kept_in_their_standard_form(kind: str, given: str, kept: str) -> None:
    assert tax_id_clean(kind=kind, number=given) == kept


@pytest.mark.parametrize(
    ("kind", "number"),
    [
        (TaxIdKind.EU_VAT, "FR40303265046"),  # check digits
        (TaxIdKind.EU_VAT, "DE13669597"),  # length
        (TaxIdKind.EU_VAT, "GB980780684"),  # not a member state since 2021
        (TaxIdKind.EU_VAT, "US123456789"),
        (TaxIdKind.GB_VAT, "GB980780685"),
        (TaxIdKind.CN_USCC, "91110000600037341M"),
        (TaxIdKind.CN_USCC, "9111000060003734"),
    ],
)
def test_malformed_tax_ids_are_refused_with_a_clear_error(kind: str, number: str) -> None:
    with pytest.raises(ValidationError):
        tax_id_clean(kind=kind, number=number)


# The Settings page ----------------------------------------------------------------------------


def test_the_owner_sets_an_eu_vat_number_in_settings(
    owner_client: Client, account: Account
) -> None:
    response = _post(owner_client, TaxIdKind.EU_VAT, "fr 40303265045")
    assert response.status_code == 302
    account.refresh_from_db()
    assert (account.tax_id_kind, account.tax_id, account.tax_id_status) == (
        TaxIdKind.EU_VAT,
        FR_VAT,
        TaxIdStatus.VALID,
    )
    assert AuditEntry.objects.filter(action="accounts.account.tax_id_changed").exists()
    page = owner_client.get(SETTINGS).content.decode()
    assert "The tax ID has been saved." in page
    assert FR_VAT in page


@pytest.mark.parametrize(
    ("language", "message"),
    [
        ("en", "This is not a valid EU VAT number: check the country code and the digits."),
        ("zh-hans", "这不是有效的欧盟增值税号"),
    ],
)
def test_an_invalid_number_gets_a_clear_error_in_settings_and_changes_nothing(
    owner_client: Client, account: Account, language: str, message: str
) -> None:
    response = _post(owner_client, TaxIdKind.EU_VAT, "FR40303265046", HTTP_ACCEPT_LANGUAGE=language)
    assert response.status_code == 400
    assert message in response.content.decode()
    account.refresh_from_db()
    assert (account.tax_id, account.tax_id_status) == ("", "")


@pytest.mark.parametrize(
    ("language", "message"),
    [
        ("en", "Enter the invoice title for a unified social credit code."),
        ("zh-hans", "请填写发票抬头"),
    ],
)
def test_a_chinese_code_needs_its_invoice_title(
    owner_client: Client, account: Account, language: str, message: str
) -> None:
    response = _post(
        owner_client, TaxIdKind.CN_USCC, "91110000600037341L", HTTP_ACCEPT_LANGUAGE=language
    )
    assert response.status_code == 400
    assert message in response.content.decode()
    response = _post(owner_client, TaxIdKind.CN_USCC, "91110000600037341L", "上海云帆科技有限公司")
    assert response.status_code == 302
    account.refresh_from_db()
    assert account.invoice_title == "上海云帆科技有限公司"


def test_the_tax_id_is_removed_by_choosing_none(owner_client: Client, account: Account) -> None:
    _post(owner_client, TaxIdKind.EU_VAT, FR_VAT)
    assert _post(owner_client, "", "").status_code == 302
    account.refresh_from_db()
    assert (account.tax_id_kind, account.tax_id, account.tax_id_status) == ("", "", "")


def test_a_viewer_cannot_change_the_tax_id(viewer_client: Client, account: Account) -> None:
    assert _post(viewer_client, TaxIdKind.EU_VAT, FR_VAT).status_code == 403
    account.refresh_from_db()
    assert account.tax_id == ""
    page = viewer_client.get(SETTINGS).content.decode()
    assert 'name="tax_id"' in page and "disabled" in page


def test_it_rejects_get(owner_client: Client) -> None:
    assert owner_client.get(URL).status_code == 405


def test_a_stranger_changes_only_their_own_account(
    client: Client,
    stranger,
    account: Account,
    other_account: Account,  # type: ignore[no-untyped-def]
) -> None:
    client.force_login(stranger)
    _post(client, TaxIdKind.EU_VAT, FR_VAT)
    account.refresh_from_db()
    other_account.refresh_from_db()
    assert account.tax_id == ""
    assert other_account.tax_id == FR_VAT


# VIES -------------------------------------------------------------------------------------------


def test_vies_confirms_a_number_and_its_answer_is_kept_as_evidence(
    vies: FakeVies, owner_client: Client, account: Account
) -> None:
    vies.registered[FR_VAT] = "EXEMPLE SARL"
    assert _post(owner_client, TaxIdKind.EU_VAT, FR_VAT).status_code == 302
    account.refresh_from_db()
    assert account.tax_id_status == TaxIdStatus.VALID
    assert account.tax_id_evidence["valid"] is True
    assert account.tax_id_evidence["requestIdentifier"].startswith("WAPIAAAAZ")
    assert account.tax_id_evidence["requestDate"]
    assert account.tax_id_checked_at is not None
    # The seller's number is sent as the requester, so VIES gives a consultation number.
    assert vies.requests[-1] == {
        "countryCode": "FR",
        "vatNumber": "40303265045",
        "requesterMemberStateCode": "DE",
        "requesterNumber": "136695976",
    }
    page = owner_client.get(SETTINGS).content.decode()
    assert account.tax_id_evidence["requestIdentifier"] in page


@pytest.mark.parametrize(
    ("language", "message"),
    [
        ("en", "says this number is not registered for VAT"),
        ("zh-hans", "该号码未登记增值税"),
    ],
)
def test_a_number_vies_does_not_know_is_refused_in_settings(
    vies: FakeVies, owner_client: Client, account: Account, language: str, message: str
) -> None:
    response = _post(owner_client, TaxIdKind.EU_VAT, FR_VAT, HTTP_ACCEPT_LANGUAGE=language)
    assert response.status_code == 400
    assert message in response.content.decode()
    account.refresh_from_db()
    assert account.tax_id == ""


@pytest.mark.parametrize(
    ("error", "status"),
    [
        ("MS_UNAVAILABLE", 500),
        ("SERVICE_UNAVAILABLE", 500),
        ("MS_MAX_CONCURRENT_REQ", 200),
        ("TIMEOUT", 200),
    ],
)
def test_vies_down_never_blocks_the_customer_the_number_is_kept_not_yet_confirmed(
    vies: FakeVies, owner_client: Client, account: Account, error: str, status: int
) -> None:
    vies.unavailable["FR"] = (error, status)
    response = _post(owner_client, TaxIdKind.EU_VAT, FR_VAT)
    assert response.status_code == 302
    account.refresh_from_db()
    assert (account.tax_id, account.tax_id_status) == (FR_VAT, TaxIdStatus.UNCONFIRMED)
    assert account.tax_id_evidence["error"] == error
    page = owner_client.get(SETTINGS).content.decode()
    assert "VIES could not confirm it just now" in page
    assert "is not yet confirmed by VIES" in page


def test_a_slow_vies_counts_as_down(vies: FakeVies) -> None:
    vies.delay = 2.0
    answer = vies_check(number=FR_VAT)
    assert (answer.valid, answer.error) == (None, "TIMEOUT")


def test_no_vies_at_all_counts_as_down(settings) -> None:  # type: ignore[no-untyped-def]
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings.VIES_URL = f"http://127.0.0.1:{port}"
    answer = vies_check(number=FR_VAT)
    assert (answer.valid, answer.error) == (None, "SERVICE_UNAVAILABLE")


def test_the_periodic_task_confirms_numbers_once_vies_answers(
    vies: FakeVies, owner_client: Client, account: Account
) -> None:
    vies.unavailable["FR"] = ("MS_UNAVAILABLE", 500)
    _post(owner_client, TaxIdKind.EU_VAT, FR_VAT)
    assert tax_ids_recheck_task.apply().get() == 1
    account.refresh_from_db()
    assert account.tax_id_status == TaxIdStatus.UNCONFIRMED

    del vies.unavailable["FR"]
    vies.registered[FR_VAT] = "EXEMPLE SARL"
    assert tax_ids_recheck_task.apply().get() == 1
    account.refresh_from_db()
    assert account.tax_id_status == TaxIdStatus.VALID
    assert account.tax_id_evidence["requestIdentifier"]
    assert AuditEntry.objects.filter(action="accounts.account.tax_id_checked").count() == 2
    # Nothing left to confirm.
    assert tax_ids_recheck_task.apply().get() == 0


def test_the_periodic_task_marks_a_number_vies_does_not_know_invalid_and_settings_says_so(
    vies: FakeVies, owner_client: Client, account: Account
) -> None:
    vies.unavailable["FR"] = ("MS_UNAVAILABLE", 500)
    _post(owner_client, TaxIdKind.EU_VAT, FR_VAT)
    del vies.unavailable["FR"]
    tax_ids_recheck_task.apply()
    account.refresh_from_db()
    assert account.tax_id_status == TaxIdStatus.INVALID
    page = owner_client.get(SETTINGS, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Invoices are taxed as for a consumer until the account has a valid VAT number" in page
    page = owner_client.get(SETTINGS, HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "按消费者计税" in page


def test_the_periodic_task_is_scheduled_and_idle_without_vies(settings) -> None:  # type: ignore[no-untyped-def]
    schedule = django_settings.CELERY_BEAT_SCHEDULE
    assert any(entry["task"] == "accounts.tax_ids_recheck" for entry in schedule.values())
    settings.VIES_CHECK = False
    Account.objects.filter().update(
        tax_id_kind=TaxIdKind.EU_VAT, tax_id=FR_VAT, tax_id_status=TaxIdStatus.UNCONFIRMED
    )
    assert tax_ids_recheck_task.apply().get() == 0


# The seller's tax data --------------------------------------------------------------------------


def test_a_malformed_seller_vat_id_fails_the_system_check(settings) -> None:  # type: ignore[no-untyped-def]
    settings.SELLER_COUNTRY = "DE"
    settings.SELLER_VAT_ID = "DE136695977"
    assert [m.id for m in check_seller_tax_data()] == ["portal.E011"]
    settings.SELLER_VAT_ID = "DE136695976"
    assert check_seller_tax_data() == []
    settings.SELLER_VAT_ID = ""
    assert [m.id for m in check_seller_tax_data_deploy()] == ["portal.E012"]
    settings.SELLER_COUNTRY = "USA"
    assert "portal.E010" in [m.id for m in check_seller_tax_data()]
    assert all(isinstance(m, checks.CheckMessage) for m in check_seller_tax_data())


def test_a_seller_outside_the_eu_needs_an_identifier_in_production(settings) -> None:  # type: ignore[no-untyped-def]
    """Without one, every e-invoice fails EN 16931's BR-CO-26."""
    settings.SELLER_COUNTRY = "US"
    settings.SELLER_VAT_ID = ""
    assert check_seller_tax_data() == []
    assert [m.id for m in check_seller_tax_data_deploy()] == ["portal.E013"]
    # A tax registration number (a US EIN) is not a VAT number, and is enough.
    settings.SELLER_VAT_ID = "12-3456789"
    assert check_seller_tax_data() == []
    assert check_seller_tax_data_deploy() == []
    # An ID with a country's letters is checked as a VAT number (a non-Union OSS one, say).
    settings.SELLER_VAT_ID = "DE136695977"
    assert [m.id for m in check_seller_tax_data()] == ["portal.E011"]
