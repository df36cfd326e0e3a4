from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest

from accounts.models import Account
from invoices.models import Invoice, RecurringCharge
from invoices.services import (
    accounts_due_for_run,
    billing_date_on_or_before,
    next_billing_date,
    recurring_run_account,
)

D = Decimal
pytestmark = pytest.mark.django_db


def _run(account: Account, first: date, last: date) -> None:
    day = first
    while day <= last:
        recurring_run_account(account=account, day=day)
        day += timedelta(days=1)


def test_billing_dates(account: Account) -> None:
    account.billing_day = 15
    assert next_billing_date(account, date(2026, 1, 10)) == date(2026, 1, 15)
    assert next_billing_date(account, date(2026, 1, 15)) == date(2026, 2, 15)
    assert next_billing_date(account, date(2026, 12, 20)) == date(2027, 1, 15)
    assert billing_date_on_or_before(account, date(2026, 1, 10)) == date(2025, 12, 15)
    assert billing_date_on_or_before(account, date(2026, 3, 15)) == date(2026, 3, 15)


def test_a_series_starts_with_a_new_invoice_prorated_to_the_billing_day(
    account: Account, server_charge: RecurringCharge
) -> None:
    result = recurring_run_account(account=account, day=date(2026, 10, 10))
    [new] = result.new
    assert new.type == Invoice.Type.NEW
    # 10 Oct to 1 Nov is 22 of October's 31 days: 100.00 × 22/31.
    assert new.total == D("70.97")
    assert (new.period_start, new.period_end) == (date(2026, 10, 10), date(2026, 10, 31))
    item = new.items.get(parent=None)
    details = list(item.details.order_by("position"))
    assert [d.amount for d in details] == [D("42.58"), D("21.29"), D("7.10")]
    assert item.amount == sum(d.amount for d in details)
    server_charge.refresh_from_db()
    assert server_charge.invoiced_through == date(2026, 11, 1)


def test_on_the_billing_day_a_recurring_invoice_covers_the_coming_month(
    account: Account, server_charge: RecurringCharge
) -> None:
    _run(account, date(2026, 10, 1), date(2026, 12, 1))
    invoices = list(Invoice.objects.order_by("issue_date"))
    assert [(i.type, i.issue_date, i.total) for i in invoices] == [
        (Invoice.Type.NEW, date(2026, 10, 10), D("70.97")),
        (Invoice.Type.RECURRING, date(2026, 11, 1), D("100.00")),
        (Invoice.Type.RECURRING, date(2026, 12, 1), D("100.00")),
    ]
    november = invoices[1]
    assert (november.period_start, november.period_end) == (date(2026, 11, 1), date(2026, 11, 30))
    assert november.items.count() == 4  # the server and its three details


def test_a_charge_that_starts_on_the_billing_day_is_on_its_new_invoice_only(
    account: Account, server_charge: RecurringCharge
) -> None:
    RecurringCharge.objects.filter(pk=server_charge.pk).update(starts_on=date(2026, 11, 1))
    result = recurring_run_account(account=account, day=date(2026, 11, 1))
    assert [i.type for i in result.new] == [Invoice.Type.NEW]
    assert result.new[0].total == D("100.00")
    assert result.recurring == []


def test_running_the_same_day_twice_issues_each_invoice_once(
    account: Account, server_charge: RecurringCharge
) -> None:
    _run(account, date(2026, 10, 10), date(2026, 11, 1))
    again = recurring_run_account(account=account, day=date(2026, 11, 1))
    assert again.new == [] and again.recurring == []
    assert Invoice.objects.count() == 2


def test_an_ended_charge_is_no_longer_billed(
    account: Account, server_charge: RecurringCharge
) -> None:
    _run(account, date(2026, 10, 10), date(2026, 11, 1))
    RecurringCharge.objects.filter(pk=server_charge.pk).update(ends_on=date(2026, 11, 20))
    result = recurring_run_account(account=account, day=date(2026, 12, 1))
    assert result.recurring == []


def test_a_missed_billing_day_is_caught_up_on_the_next_one(
    account: Account, server_charge: RecurringCharge
) -> None:
    # The worker was down from 9 October: the New invoice comes late, the series continues.
    recurring_run_account(account=account, day=date(2026, 11, 1))
    types = sorted(Invoice.objects.values_list("type", flat=True))
    assert types == [Invoice.Type.NEW, Invoice.Type.RECURRING]


def test_a_billing_day_the_workers_missed_is_billed_by_the_next_run(
    account: Account, server_charge: RecurringCharge
) -> None:
    recurring_run_account(account=account, day=date(2026, 10, 10))
    # Nothing ran on 1 November; the run of 2 November bills November.
    result = recurring_run_account(account=account, day=date(2026, 11, 2))
    [november] = result.recurring
    assert (november.period_start, november.period_end) == (date(2026, 11, 1), date(2026, 11, 30))
    assert november.issue_date == date(2026, 11, 2)
    recurring_run_account(account=account, day=date(2026, 12, 1))
    periods = sorted(
        Invoice.objects.filter(type=Invoice.Type.RECURRING).values_list("period_start", flat=True)
    )
    assert periods == [date(2026, 11, 1), date(2026, 12, 1)]


def test_a_first_run_long_after_the_start_bills_every_period_once(
    account: Account, server_charge: RecurringCharge
) -> None:
    recurring_run_account(account=account, day=date(2026, 12, 5))
    recurring_run_account(account=account, day=date(2026, 12, 5))
    invoices = list(Invoice.objects.order_by("pk"))
    assert [(i.type, i.period_start) for i in invoices] == [
        (Invoice.Type.NEW, date(2026, 10, 10)),
        (Invoice.Type.RECURRING, date(2026, 11, 1)),
        (Invoice.Type.RECURRING, date(2026, 12, 1)),
    ]
    assert accounts_due_for_run(date(2026, 12, 6)) == []
