"""A receipt has a proper number (RCPT-000012, from its payment), the same on the payment's
page, its PDF and its email; an invoice's PDF says that it is an invoice."""

from __future__ import annotations

from io import BytesIO

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import translation
from pypdf import PdfReader

from accounts.models import Account, OutboundEmail, User
from invoices.documents import invoice_pdf_html
from payments.receipts import receipt_html
from tests.conftest import IssueFn

pytestmark = pytest.mark.django_db


def _pdf_text(response) -> str:  # type: ignore[no-untyped-def]
    content = b"".join(response.streaming_content) if response.streaming else response.content
    return "\n".join(page.extract_text() for page in PdfReader(BytesIO(content)).pages)


def test_the_receipt_number_is_the_payments_id_formatted_like_an_invoice_number(
    account: Account, owner: User, issue: IssueFn, pay_by_card, settings
) -> None:
    issue(account, "100.00")
    payment = pay_by_card(account, owner, "100.00")
    assert payment.receipt_number == f"RCPT-{payment.pk:06d}"
    settings.RECEIPT_NUMBER_PREFIX = "R"
    assert payment.receipt_number == f"R{payment.pk:06d}"


@pytest.mark.parametrize(
    ("language", "heading"), [("en", "Payment receipt"), ("zh-hans", "付款收据")]
)
def test_the_page_the_pdf_and_the_email_show_the_same_receipt_number(
    owner_client: Client,
    account: Account,
    owner: User,
    issue: IssueFn,
    pay_by_card,
    language: str,
    heading: str,
) -> None:
    issue(account, "100.00")
    payment = pay_by_card(account, owner, "100.00")
    number = payment.receipt_number

    page = owner_client.get(
        reverse("payments:detail", args=[payment.pk]), HTTP_ACCEPT_LANGUAGE=language
    ).content.decode()
    assert f'data-testid="receipt-number">{number}<' in page

    pdf = _pdf_text(
        owner_client.get(
            reverse("payments:receipt_pdf", args=[payment.pk]), HTTP_ACCEPT_LANGUAGE=language
        )
    )
    assert f"{heading} {number}" in pdf
    assert f"\n{payment.pk}\n" not in f"\n{pdf}\n"

    email = OutboundEmail.objects.get(key=f"payments.payment.receipt:{payment.pk}")
    assert number in email.body


@pytest.mark.parametrize(
    ("language", "heading"),
    [("en", "One-time invoice {number}"), ("zh-hans", "发票 {number}（一次性费用）")],
)
def test_the_invoice_pdf_heading_says_invoice(
    account: Account, issue: IssueFn, language: str, heading: str
) -> None:
    invoice = issue(account, "100.00")
    html = invoice_pdf_html(invoice, language)
    assert f"<h1>{heading.format(number=invoice.number)}</h1>" in html
    assert "·" not in html.split("<h1>")[1].split("</h1>")[0]


def test_the_receipt_html_heading_and_title_carry_the_number(
    account: Account, owner: User, issue: IssueFn, pay_by_card
) -> None:
    issue(account, "100.00")
    payment = pay_by_card(account, owner, "100.00")
    with translation.override("en"):
        html = receipt_html(payment, "zh-hans")
    assert f"<h1>付款收据 {payment.receipt_number}</h1>" in html
    assert f"<title>付款收据 {payment.receipt_number}</title>" in html
