"""A chunk's invoices issued together (`recurring_run_accounts`): the same invoices as one
at a time, a block of gapless numbers in the accounts' order, and bulk writes that keep the
guards `save()` keeps."""

from __future__ import annotations

import threading
from datetime import date
from decimal import Decimal

import pytest
from django.db import connection, connections, transaction

from accounts.models import AuditEntry, Membership, OutboundEmail
from invoices.models import ImmutableInvoiceError, Invoice, InvoiceItem, RecurringCharge
from invoices.services import (
    ItemSpec,
    invoice_apply_payment,
    invoice_issue_credit,
    invoice_issue_one_time,
    recurring_run_account,
    recurring_run_accounts,
)
from tests.factories import AccountFactory, MembershipFactory, UserFactory

DAY = date(2026, 10, 1)


def _charges(account, starts_on: date = DAY) -> None:
    server = RecurringCharge.objects.create(
        account=account,
        description="Cloud Server",
        category="Server",
        unit_price=Decimal("0"),
        starts_on=starts_on,
    )
    server.details.create(description="2 vCPU", quantity=Decimal(2), unit_price=Decimal("6.00"))
    server.details.create(description="4 GB", quantity=Decimal(4), unit_price=Decimal("1.50"))
    RecurringCharge.objects.create(
        account=account, description="Backup", unit_price=Decimal("6.00"), starts_on=starts_on
    )


def _shape(invoice: Invoice) -> list[tuple[object, ...]]:
    return [
        (
            item.position,
            item.parent.position if item.parent else None,
            item.description,
            item.amount,
            item.vat_category,
            item.period_start,
            item.period_end,
        )
        for item in invoice.items.select_related("parent").order_by("position")
    ]


@pytest.mark.django_db
def test_issued_together_the_invoices_are_those_issued_one_at_a_time() -> None:
    alone, *together = [AccountFactory(billing_day=1) for _ in range(4)]
    for n, account in enumerate((alone, *together)):
        owner = UserFactory(email=f"owner{n}@example.com")
        MembershipFactory(user=owner, account=account, role=Membership.Role.OWNER)
        _charges(account, starts_on=date(2026, 9, 16))  # prorated, then a whole month
    single = recurring_run_account(account=alone, day=DAY)
    results = recurring_run_accounts(account_ids=[a.pk for a in reversed(together)], day=DAY)

    assert sorted(results) == sorted(a.pk for a in together)
    expected = [_shape(i) for i in [*single.new, *single.recurring]]
    for account in together:
        result = results[account.pk]
        issued = [*result.new, *result.recurring]
        assert [i.type for i in issued] == [Invoice.Type.NEW, Invoice.Type.RECURRING]
        assert [_shape(i) for i in issued] == expected
        assert [i.total for i in issued] == [i.total for i in [*single.new, *single.recurring]]
        for invoice in issued:
            assert OutboundEmail.objects.filter(
                key=f"invoices.invoice.issued:{invoice.pk}"
            ).exists()
            assert (
                AuditEntry.objects.filter(
                    action="invoices.invoice.issued", object_id=str(invoice.pk)
                ).count()
                == 1
            )
    assert set(RecurringCharge.objects.values_list("invoiced_through", flat=True)) == {
        date(2026, 11, 1)
    }
    # Numbers in the accounts' order (ids, whatever order they were given in), no gaps.
    numbers = list(Invoice.objects.order_by("account_id", "pk").values_list("number", flat=True))
    assert numbers == [f"INV-{n:06d}" for n in range(1, 9)]
    # Safe to run again: nothing left to issue.
    again = recurring_run_accounts(account_ids=[a.pk for a in together], day=DAY)
    assert all(not r.new and not r.recurring for r in again.values())
    assert Invoice.objects.count() == 8


@pytest.mark.django_db
def test_an_account_with_an_open_credit_has_it_applied_to_its_new_invoice() -> None:
    account, other = AccountFactory(), AccountFactory()
    _charges(account)
    _charges(other)
    paid = invoice_issue_one_time(
        account=account, items=[ItemSpec(description="Setup", unit_price=Decimal("10.00"))]
    )
    with transaction.atomic():
        invoice_apply_payment(invoice=paid, amount=Decimal("10.00"), currency=paid.currency)
    # Nothing owed to use it on: the credit stays available for the next invoice.
    invoice_issue_credit(original=paid, amount=Decimal("4.00"), reason="Goodwill")
    results = recurring_run_accounts(account_ids=[account.pk, other.pk], day=DAY)
    [new] = results[account.pk].new
    [plain] = results[other.pk].new
    assert new.balance == new.total - Decimal("4.00")
    assert plain.balance == plain.total


@pytest.mark.django_db
def test_bulk_writes_never_write_over_an_issued_invoice_or_item() -> None:
    account = AccountFactory()
    invoice = invoice_issue_one_time(
        account=account, items=[ItemSpec(description="Setup", unit_price=Decimal("10.00"))]
    )
    item = invoice.items.get()
    with pytest.raises(ImmutableInvoiceError):
        Invoice.objects.bulk_create([invoice])
    with pytest.raises(ImmutableInvoiceError):
        InvoiceItem.objects.bulk_create([item])
    item.pk = None
    with pytest.raises(ImmutableInvoiceError):
        InvoiceItem.objects.bulk_create([item], ignore_conflicts=True)
    with pytest.raises(ImmutableInvoiceError):
        InvoiceItem.objects.bulk_create(
            [item], update_conflicts=True, unique_fields=["id"], update_fields=["amount"]
        )


@pytest.mark.django_db(transaction=True)
def test_two_workers_issuing_chunks_and_single_invoices_at_once_get_gapless_numbers() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("row locks need PostgreSQL")
    accounts = [AccountFactory() for _ in range(12)]
    for account in accounts:
        _charges(account)
    loner = AccountFactory()
    halves = [[a.pk for a in accounts[0::2]], [a.pk for a in accounts[1::2]]]
    start = threading.Barrier(2)
    errors: list[BaseException] = []
    blocks: list[list[str]] = []

    def worker(ids: list[int]) -> None:
        try:
            start.wait()
            for batch in (ids[:3], ids[3:]):
                results = recurring_run_accounts(account_ids=batch, day=DAY)
                blocks.append([i.number for r in results.values() for i in r.new])
                invoice_issue_one_time(
                    account=loner, items=[ItemSpec(description="x", unit_price=Decimal(1))]
                )
        except BaseException as error:
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(half,)) for half in halves]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    numbers = sorted(Invoice.objects.values_list("number", flat=True))
    assert numbers == [f"INV-{n:06d}" for n in range(1, len(accounts) + 4 + 1)]
    # Each batch got a block of consecutive numbers.
    for block in blocks:
        values = [int(number.removeprefix("INV-")) for number in block]
        assert values == list(range(values[0], values[0] + len(values)))
