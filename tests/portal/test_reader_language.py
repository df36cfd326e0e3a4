"""What the current viewer reads is in the viewer's language, what is sent to the account in
the account's: country names in addresses, the PayPal order's description."""

from __future__ import annotations

import re
from io import BytesIO

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import translation
from pypdf import PdfReader

from accounts.models import Account, OutboundEmail, User
from accounts.postal import address_lines_for_reader
from tests.conftest import IssueFn

pytestmark = pytest.mark.django_db

# The account fixture is in China (CN); the default seller is in the United States.
COUNTRIES = {"en": ("China", "United States"), "zh-hans": ("中国", "美国")}
OTHER = {"en": "zh-hans", "zh-hans": "en"}


def _pdf_text(response) -> str:  # type: ignore[no-untyped-def]
    content = b"".join(response.streaming_content) if response.streaming else response.content
    return "\n".join(page.extract_text() for page in PdfReader(BytesIO(content)).pages)


def _text(html: str) -> str:
    return re.sub(r"<[^>]+>", "\n", html)


def test_an_addresss_country_line_is_named_in_the_active_language() -> None:
    with translation.override("zh-hans"):
        assert address_lines_for_reader("1 Datacenter Way\nDallas TX 75201\nUnited States") == [
            "1 Datacenter Way",
            "Dallas TX 75201",
            "美国",
        ]
    with translation.override("en"):
        assert address_lines_for_reader("浦东新区\n上海 200120\n中国")[-1] == "China"
        # Already in the reader's language: as written.
        assert address_lines_for_reader("Dallas TX 75201\nUnited States")[-1] == "United States"
        # A last line that names no country is left as it is.
        assert address_lines_for_reader("12 Main St\nSpringfield") == ["12 Main St", "Springfield"]


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_the_invoice_page_and_pdf_name_the_countries_in_the_readers_language(
    owner_client: Client, account: Account, issue: IssueFn, language: str
) -> None:
    # Issued while English was active: the copied address says "China".
    with translation.override("en"):
        invoice = issue(account, "100.00")
    assert invoice.buyer_address.splitlines()[-1] == "China"
    account.language = OTHER[language]
    account.save(update_fields=["language"])

    page = _text(
        owner_client.get(
            reverse("invoices:detail", args=[invoice.pk]), HTTP_ACCEPT_LANGUAGE=language
        ).content.decode()
    )
    pdf = _pdf_text(
        owner_client.get(reverse("invoices:pdf", args=[invoice.pk]), HTTP_ACCEPT_LANGUAGE=language)
    )
    for text in (page, pdf):
        lines = [line.strip() for line in text.splitlines()]
        for country in COUNTRIES[language]:
            assert country in lines
        for country in COUNTRIES[OTHER[language]]:
            assert country not in lines


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_the_receipt_pdf_names_the_countries_in_the_readers_language(
    owner_client: Client, account: Account, owner: User, issue: IssueFn, pay_by_card, language
) -> None:
    issue(account, "100.00")
    payment = pay_by_card(account, owner, "100.00")
    text = _pdf_text(
        owner_client.get(
            reverse("payments:receipt_pdf", args=[payment.pk]), HTTP_ACCEPT_LANGUAGE=language
        )
    )
    lines = [line.strip() for line in text.splitlines()]
    assert set(COUNTRIES[language]) <= set(lines)
    assert not set(COUNTRIES[OTHER[language]]) & set(lines)


def _start_paypal(client: Client, language: str) -> str:
    html = client.get(reverse("payments:pay"), HTTP_ACCEPT_LANGUAGE=language).content.decode()
    form = {
        name: re.search(rf'name="{name}"[^>]*value="([^"]*)"', html).group(1)  # type: ignore[union-attr]
        for name in ("amount", "currency", "key")
    }
    started = client.post(reverse("payments:paypal_start"), form, HTTP_ACCEPT_LANGUAGE=language)
    assert started.status_code == 302
    return client.get(started["Location"], HTTP_ACCEPT_LANGUAGE=language).content.decode()


def test_the_paypal_page_follows_the_viewer_not_the_accounts_language(
    owner_client: Client, account: Account, issue: IssueFn
) -> None:
    account.language = "zh-hans"
    account.save(update_fields=["language"])
    issue(account, "100.00")
    approval = _start_paypal(owner_client, "en")
    assert "Payment to Example Hosting Ltd" in approval
    assert not re.search(r"[\u3400-\u9fff]", _text(approval))


def test_a_chinese_viewer_of_an_english_account_reads_the_paypal_page_in_chinese(
    owner_client: Client, account: Account, issue: IssueFn
) -> None:
    assert account.language == "en"
    issue(account, "100.00")
    assert "向 Example Hosting Ltd 付款" in _start_paypal(owner_client, "zh-hans")


def test_the_invoice_email_names_the_type_once_in_the_accounts_language(
    account: Account, owner: User, issue: IssueFn
) -> None:
    account.language = "zh-hans"
    account.save(update_fields=["language"])
    with translation.override("en"):
        invoice = issue(account, "100.00")
    email = OutboundEmail.objects.get(key=f"invoices.invoice.issued:{invoice.pk}")
    assert email.subject == f"发票 {invoice.number}（一次性费用）"
    assert "发票编号：" in email.body and "发票编号:" not in email.body
