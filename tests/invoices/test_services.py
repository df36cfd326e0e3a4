from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from django.db import transaction

from accounts.models import Account, AuditEntry
from invoices.models import (
    ImmutableInvoiceError,
    Invoice,
    InvoiceItem,
    SellerTaxCountry,
    TaxRate,
)
from invoices.services import (
    InvoiceError,
    ItemSpec,
    invoice_apply_payment,
    invoice_issue_credit,
    invoice_issue_one_time,
    invoice_issue_refund,
)
from tests.factories import AccountFactory

D = Decimal
pytestmark = pytest.mark.django_db


def _pay(invoice: Invoice, amount: str) -> None:
    """A payment's share applied as the payments app applies it: in its own transaction."""
    with transaction.atomic():
        invoice_apply_payment(invoice=invoice, amount=D(amount), currency=invoice.currency)


def test_an_items_amount_is_the_sum_of_its_details_and_totals_are_rounded_once(
    account: Account,
) -> None:
    # A seller outside the EU that charges a sales tax of 8.875% where the buyer is.
    Account.objects.filter(pk=account.pk).update(country="US")
    account.refresh_from_db()
    TaxRate.objects.create(country="US", rate=D("8.875"), valid_from=date(2026, 1, 1))
    SellerTaxCountry.objects.create(country="US")
    invoice = invoice_issue_one_time(
        account=account,
        issue_date=date(2026, 10, 15),
        items=[
            ItemSpec(
                description="Bandwidth overage",
                details=(
                    ItemSpec(description="Outbound GB", quantity=D("1843.5"), unit_price=D("0.05")),
                    ItemSpec(description="Burst days", quantity=D("3"), unit_price=D("33.333")),
                ),
            ),
            ItemSpec(description="SSL certificate", unit_price=D("149.00")),
        ],
    )
    items = {i.description: i for i in InvoiceItem.objects.filter(invoice=invoice)}
    assert items["Outbound GB"].amount == D("92.18")  # 92.175 rounded half up
    assert items["Burst days"].amount == D("100.00")  # 99.999
    assert items["Bandwidth overage"].amount == D("192.18")
    assert items["Outbound GB"].parent == items["Bandwidth overage"]
    assert invoice.subtotal == D("341.18")
    assert invoice.tax == D("30.28")  # 30.2797...
    assert invoice.total == D("371.46")
    assert invoice.balance == invoice.total
    assert invoice.state == Invoice.State.OPEN
    assert invoice.due_date == date(2026, 11, 14)


def test_a_yen_invoice_has_no_decimals_and_a_dinar_invoice_has_three(account: Account) -> None:
    yen = invoice_issue_one_time(
        account=account,
        currency="JPY",
        items=[ItemSpec(description="Licence", quantity=D("3"), unit_price=D("333.5"))],
    )
    assert yen.total == D("1001")
    dinar = invoice_issue_one_time(
        account=account,
        currency="BHD",
        items=[ItemSpec(description="Licence", quantity=D("3"), unit_price=D("0.3335"))],
    )
    assert dinar.total == D("1.001")


def test_detail_items_cannot_have_details_of_their_own(account: Account) -> None:
    nested = ItemSpec(description="a", details=(ItemSpec(description="b", unit_price=D(1)),))
    with pytest.raises(InvoiceError):
        invoice_issue_one_time(
            account=account, items=[ItemSpec(description="top", details=(nested,))]
        )
    assert not Invoice.objects.exists()


def test_an_invoice_without_items_or_with_a_negative_total_is_refused(account: Account) -> None:
    with pytest.raises(InvoiceError):
        invoice_issue_one_time(account=account, items=[])
    with pytest.raises(InvoiceError):
        invoice_issue_one_time(
            account=account, items=[ItemSpec(description="x", unit_price=D("-5"))]
        )
    assert not Invoice.objects.exists()


def test_numbers_are_sequential_and_a_rolled_back_issue_leaves_no_gap(
    account: Account, issue
) -> None:
    first = issue(account)
    with pytest.raises(RuntimeError), transaction.atomic():
        issue(account)
        raise RuntimeError("the issuing transaction fails")
    second = issue(account)
    assert [first.number, second.number] == ["INV-000001", "INV-000002"]


def test_seller_and_buyer_are_copied_in_and_do_not_follow_later_changes(
    account: Account, issue
) -> None:
    invoice = issue(account)
    account.company_name = "Renamed Ltd"
    account.save()
    invoice.refresh_from_db()
    assert invoice.buyer_name == "上海云帆科技有限公司"
    assert invoice.seller_name == "Example Hosting Ltd"
    assert invoice.buyer_country == "CN"
    assert account.city in invoice.buyer_address


def test_an_issued_invoice_and_its_items_never_change(account: Account, issue) -> None:
    invoice = issue(account)
    invoice.total = D("1.00")
    with pytest.raises(ImmutableInvoiceError):
        invoice.save()
    with pytest.raises(ImmutableInvoiceError):
        invoice.save(update_fields=["total"])
    with pytest.raises(ImmutableInvoiceError):
        Invoice.objects.get(pk=invoice.pk).delete()
    item = invoice.items.get()
    item.amount = D("0")
    with pytest.raises(ImmutableInvoiceError):
        item.save()
    with pytest.raises(ImmutableInvoiceError):
        item.delete()
    invoice.refresh_from_db()
    assert invoice.total == D("100.00")


def test_a_credit_pays_the_invoice_it_corrects_first_then_the_oldest(
    account: Account, issue
) -> None:
    oldest = issue(account, "50.00", on=date(2026, 8, 1))
    corrected = issue(account, "30.00", on=date(2026, 9, 1))
    newest = issue(account, "40.00", on=date(2026, 10, 1))

    credit = invoice_issue_credit(original=corrected, amount=D("30.00"), reason="SLA")
    assert credit.type == Invoice.Type.CREDIT
    assert credit.total == D("-30.00")
    assert credit.refers_to == corrected
    corrected.refresh_from_db()
    oldest.refresh_from_db()
    assert corrected.balance == D("0.00")
    assert corrected.state == Invoice.State.PAID
    assert oldest.balance == D("50.00")
    assert credit.state == Invoice.State.CREDIT_USED

    # A later credit larger than the invoice it corrects pays the oldest next.
    second = invoice_issue_credit(original=newest, amount=D("40.00"), reason="Goodwill")
    newest.refresh_from_db()
    assert newest.balance == D("0.00")
    assert second.balance == D("0.00")
    assert AuditEntry.objects.filter(action="invoices.invoice.issued").count() == 5


def test_a_credit_larger_than_whats_owed_stays_available_for_later_invoices(
    account: Account, issue
) -> None:
    original = issue(account, "100.00", on=date(2026, 8, 1))
    _pay(original, "80.00")
    credit = invoice_issue_credit(original=original, amount=D("50.00"), reason="Over-billed")
    credit.refresh_from_db()
    assert credit.balance == D("-30.00")
    assert credit.state == Invoice.State.CREDIT_AVAILABLE

    later = issue(account, "45.00", on=date(2026, 9, 1))
    later.refresh_from_db()
    credit.refresh_from_db()
    assert later.balance == D("15.00")
    assert credit.balance == D("0.00")


def test_credits_never_cross_currencies(account: Account, issue) -> None:
    dollars = issue(account, "100.00", currency="USD")
    yuan = issue(account, "500.00", currency="CNY")
    _pay(dollars, "100.00")
    credit = invoice_issue_credit(original=dollars, amount=D("20.00"), reason="x")
    yuan.refresh_from_db()
    assert yuan.balance == D("500.00")
    assert credit.balance == D("-20.00")


@pytest.mark.parametrize("amount", ["0", "-5.00", "10.001", "100.01"])
def test_a_credit_that_is_zero_negative_too_precise_or_too_large_changes_nothing(
    account: Account, issue, amount: str
) -> None:
    original = issue(account, "100.00")
    with pytest.raises(InvoiceError):
        invoice_issue_credit(original=original, amount=D(amount), reason="x")
    original.refresh_from_db()
    assert original.balance == D("100.00")
    assert Invoice.objects.count() == 1


def test_credits_against_one_invoice_never_exceed_its_total(account: Account, issue) -> None:
    original = issue(account, "100.00")
    invoice_issue_credit(original=original, amount=D("70.00"), reason="a")
    with pytest.raises(InvoiceError, match="exceed"):
        invoice_issue_credit(original=original, amount=D("30.01"), reason="b")


def test_a_refund_records_money_returned_and_owes_nothing(account: Account, issue) -> None:
    original = issue(account, "100.00")
    _pay(original, "100.00")
    refund = invoice_issue_refund(original=original, amount=D("25.00"), reason="Returned")
    assert refund.type == Invoice.Type.REFUND
    assert refund.total == D("-25.00")
    assert refund.balance == D("0")
    assert refund.state == Invoice.State.CLOSED
    original.refresh_from_db()
    assert original.balance == D("0.00")
    with pytest.raises(InvoiceError, match="paid"):
        invoice_issue_refund(original=original, amount=D("75.01"), reason="Too much")


def test_nothing_unpaid_can_be_refunded(account: Account, issue) -> None:
    original = issue(account, "100.00")
    with pytest.raises(InvoiceError):
        invoice_issue_refund(original=original, amount=D("1.00"), reason="x")


def test_a_payment_cannot_exceed_the_balance_or_the_currency_precision(
    account: Account, issue
) -> None:
    invoice = issue(account, "100.00")
    with transaction.atomic():
        locked = Invoice.objects.select_for_update().get(pk=invoice.pk)
        with pytest.raises(InvoiceError):
            invoice_apply_payment(invoice=locked, amount=D("100.01"), currency="USD")
        with pytest.raises(InvoiceError):
            invoice_apply_payment(invoice=locked, amount=D("0.001"), currency="USD")
        with pytest.raises(InvoiceError, match="own currency"):
            invoice_apply_payment(invoice=locked, amount=D("1.00"), currency="CNY")
    invoice.refresh_from_db()
    assert invoice.balance == D("100.00")


def test_invoices_of_other_accounts_are_untouched_by_credits(account: Account, issue) -> None:
    other = AccountFactory()
    theirs = issue(other, "10.00")
    ours = issue(account, "10.00")
    _pay(ours, "10.00")
    invoice_issue_credit(original=ours, amount=D("10.00"), reason="x")
    theirs.refresh_from_db()
    assert theirs.balance == D("10.00")


def test_credits_and_refunds_together_never_exceed_the_total(account: Account, issue) -> None:
    original = issue(account, "100.00")
    invoice_issue_credit(original=original, amount=D("30.00"), reason="SLA")
    _pay(original, "70.00")
    with pytest.raises(InvoiceError, match="exceed its total"):
        invoice_issue_refund(original=original, amount=D("70.01"), reason="Too much")
    invoice_issue_refund(original=original, amount=D("70.00"), reason="All the card paid")


def test_a_refunded_invoice_cannot_also_be_credited_in_full(account: Account, issue) -> None:
    original = issue(account, "100.00")
    _pay(original, "100.00")
    invoice_issue_refund(original=original, amount=D("100.00"), reason="Returned")
    with pytest.raises(InvoiceError, match="exceed"):
        invoice_issue_credit(original=original, amount=D("0.01"), reason="Twice")
