from __future__ import annotations

import threading
from decimal import Decimal

import pytest
from django.db import connection, connections

from invoices.models import Invoice
from invoices.services import ItemSpec, invoice_issue_one_time
from tests.factories import AccountFactory


@pytest.mark.django_db(transaction=True)
def test_two_workers_issuing_at_once_get_distinct_consecutive_numbers() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("row locks need PostgreSQL")
    accounts = [AccountFactory(), AccountFactory()]
    per_worker = 10
    start = threading.Barrier(len(accounts))
    errors: list[BaseException] = []

    def worker(account_id: int) -> None:
        try:
            account = type(accounts[0]).objects.get(pk=account_id)
            start.wait()
            for _ in range(per_worker):
                invoice_issue_one_time(
                    account=account, items=[ItemSpec(description="x", unit_price=Decimal(1))]
                )
        except BaseException as error:
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(a.pk,)) for a in accounts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []

    numbers = sorted(Invoice.objects.values_list("number", flat=True))
    expected = [f"INV-{n:06d}" for n in range(1, per_worker * len(accounts) + 1)]
    assert numbers == expected
    # Both workers really interleaved: each got numbers from the other's range.
    by_account = [
        sorted(Invoice.objects.filter(account=a).values_list("number", flat=True)) for a in accounts
    ]
    assert all(len(numbers) == per_worker for numbers in by_account)
