from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import Account, AuditEntry, OutboundEmail
from invoices.models import (
    Invoice,
    InvoiceItem,
    NumberSequence,
    RateKind,
    RecurringCharge,
    RecurringChargeDetail,
    SellerTaxCountry,
)
from invoices.preview import next_invoice_preview
from invoices.selectors import billing_summary
from invoices.services import invoice_issue_credit, next_billing_date, recurring_run_account

D = Decimal
pytestmark = pytest.mark.django_db
URL = reverse("invoices:next_invoice")


@pytest.fixture
def invoiced(account: Account, server_charge: RecurringCharge) -> RecurringCharge:
    """The server's New and first Recurring invoices issued, and a licence with no details
    (2 × 12.50) that started with it."""
    RecurringCharge.objects.create(
        account=account,
        description="Licence",
        category="Software",
        quantity=D("2"),
        unit_price=D("12.50"),
        starts_on=date(2026, 10, 10),
    )
    recurring_run_account(account=account, day=date(2026, 10, 10))
    recurring_run_account(account=account, day=date(2026, 11, 1))
    return server_charge


def _state() -> tuple[object, ...]:
    sequence = NumberSequence.objects.values_list("next_value", flat=True).first()
    charges = tuple(RecurringCharge.objects.order_by("pk").values_list("invoiced_through"))
    return (
        Invoice.objects.count(),
        InvoiceItem.objects.count(),
        sequence,
        charges,
        OutboundEmail.objects.count(),
        AuditEntry.objects.count(),
    )


def test_the_preview_is_what_the_run_issues_on_the_next_billing_day(
    account: Account, invoiced: RecurringCharge
) -> None:
    before = _state()
    preview = next_invoice_preview(account=account, today=date(2026, 11, 15))
    assert _state() == before  # nothing of the run stays: no invoice, number, email or entry
    assert preview.day == date(2026, 12, 1)
    [estimate] = preview.invoices
    assert estimate.type == Invoice.Type.RECURRING
    assert (estimate.period_start, estimate.period_end) == (date(2026, 12, 1), date(2026, 12, 31))
    assert [line.description for line in estimate.lines] == ["Bare Metal Server", "Licence"]
    assert [d.description for d in estimate.lines[0].details] == ["CPU", "RAM", "Disk"]
    assert estimate.total == preview.total == D("125.00")

    [issued] = recurring_run_account(account=account, day=date(2026, 12, 1)).recurring
    assert issued.total == estimate.total and issued.subtotal == estimate.subtotal
    assert issued.tax == estimate.tax
    assert (issued.period_start, issued.period_end) == (estimate.period_start, estimate.period_end)
    items = list(issued.items.order_by("position").values_list("description", "amount"))
    previewed = []
    for line in estimate.lines:
        previewed.append(line.description)
        previewed.extend(detail.description for detail in line.details)
    assert [description for description, _amount in items] == previewed
    # The preview used no number: the real run's follows the last one without a gap.
    assert int(issued.number.removeprefix("INV-")) == before[2]


@pytest.fixture(params=["untaxed", "cn_telecom_6", "eu_domestic_20"])
def treatment(request: pytest.FixtureRequest, settings, account: Account) -> Decimal:
    """The account's tax treatment (the default seller is in the US, the account in China):
    none; China's 6% for telecom services, as the demo's seller charges it; or the EU
    domestic rate of a French seller billing a French account. Returns the expected total
    of the next invoice (125.00 without VAT)."""
    if request.param == "cn_telecom_6":
        SellerTaxCountry.objects.create(country="CN", kind=RateKind.TELECOM)
        return D("132.50")
    if request.param == "eu_domestic_20":
        settings.SELLER_COUNTRY = "FR"
        settings.SELLER_VAT_ID = "FR40303265045"
        Account.objects.filter(pk=account.pk).update(country="FR")
        account.refresh_from_db()
        return D("150.00")
    return D("125.00")


def test_the_preview_agrees_with_the_billing_summarys_estimated_next_balance(
    treatment: Decimal, account: Account, invoiced: RecurringCharge, issue
) -> None:
    issue(account, "40.00", on=date(2026, 11, 5))
    today = date(2026, 11, 15)
    preview = next_invoice_preview(account=account, today=today)
    [usd] = billing_summary(account, today).currencies
    assert preview.total == usd.next_charges == treatment
    assert usd.estimated_next_balance == usd.balance + preview.total
    assert billing_summary(account, today).next_recurring_date == preview.day


def test_available_credit_is_shown_as_applied_to_the_next_invoice(
    owner_client: Client, account: Account, owner, due_next: RecurringCharge, issue, pay_by_card
) -> None:
    charge = issue(account, "30.00", on=timezone.localdate())
    pay_by_card(account, owner, "30.00")
    invoice_issue_credit(original=charge, amount=D("20.00"), reason="Outage")
    preview = next_invoice_preview(account=account, today=timezone.localdate())
    assert preview.credit_applied == D("20.00")
    assert preview.invoices[0].balance == D("29.99")
    body = owner_client.get(URL).content.decode()
    assert 'data-testid="next-invoice-credit">$20.00' in body
    # Current balance -20.00 plus the next charges: the summary's estimate.
    assert 'data-testid="next-invoice-estimated-balance">$29.99' in body


def test_nothing_due_is_said_plainly(owner_client: Client, account: Account) -> None:
    preview = next_invoice_preview(account=account, today=date(2026, 11, 15))
    assert preview.invoices == [] and preview.total == 0
    body = owner_client.get(URL).content.decode()
    assert 'data-testid="next-invoice-none"' in body


@pytest.fixture
def due_next(account: Account) -> RecurringCharge:
    """A server invoiced up to the next billing day after today (as the runs leave it)."""
    today = timezone.localdate()
    charge = RecurringCharge.objects.create(
        account=account,
        description="Cloud Server",
        category="Server",
        resource_label="web01.example.com",
        starts_on=date(2026, 1, 1),
        invoiced_through=next_billing_date(account, today),
    )
    RecurringChargeDetail.objects.create(charge=charge, description="vCPU", unit_price=D("40"))
    RecurringChargeDetail.objects.create(charge=charge, description="内存", unit_price=D("9.99"))
    return charge


def test_the_page_marks_the_estimate_and_agrees_with_the_summary_in_english_and_chinese(
    owner_client: Client, account: Account, due_next: RecurringCharge, issue
) -> None:
    issue(account, "10.00", on=timezone.localdate())
    response = owner_client.get(URL)
    body = response.content.decode()
    assert response.context["preview"].total == D("49.99")
    assert 'data-testid="next-invoice-total">$49.99' in body
    assert 'data-testid="next-invoice-estimated-balance">$59.99' in body
    assert "Estimate" in body and "Cloud Server" in body and "内存" in body
    summary = owner_client.get(reverse("invoices:list")).content.decode()
    assert 'data-testid="estimated-next-balance-USD">$59.99' in summary
    assert URL in summary
    assert Invoice.objects.count() == 1

    owner_client.cookies["django_language"] = "zh-hans"
    body = owner_client.get(URL).content.decode()
    assert "下一张发票" in body and "预估" in body and "US$59.99" in body


def test_a_strangers_charges_are_not_in_the_preview(
    client: Client, stranger, due_next: RecurringCharge
) -> None:
    client.force_login(stranger)
    body = client.get(URL).content.decode()
    assert "Cloud Server" not in body and 'data-testid="next-invoice-none"' in body
