"""Moving the monthly cycle from payments to billing keeps every row of an existing database.

The database is taken back to the schema before the move (payments 0002, no billing app),
filled through the models as they were then, and migrated forward again.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from accounts.models import AuditEntry
from billing.models import AutoCharge, LateFee
from payments.models import Payment

LAST_BEFORE = ("payments", "0002_payments_and_monthly_cycle")
BEFORE = [LAST_BEFORE, ("billing", None)]


def _migrate(targets: list[tuple[str, str | None]]) -> MigrationExecutor:
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    executor.loader.build_graph()
    return executor


def _invoice(Invoice, account, number: str, **fields):
    values = {
        "account": account,
        "number": number,
        "type": "recurring",
        "state": "open",
        "issue_date": date(2026, 10, 1),
        "due_date": date(2026, 10, 31),
        "currency": "USD",
        "subtotal": Decimal("100.00"),
        "tax": Decimal(0),
        "total": Decimal("100.00"),
        "balance": Decimal("100.00"),
        "seller_name": "Example Hosting Ltd",
        "seller_address": "1 Datacenter Way",
        "buyer_name": account.company_name,
        "buyer_address": "1 Main Street",
        "buyer_country": "US",
        **fields,
    }
    return Invoice.objects.create(**values)


@pytest.fixture
def before_the_move(transactional_db: None):
    """The database as it was before the move; migrated to the latest schema afterwards,
    whatever the test found."""
    executor = _migrate(BEFORE)
    yield executor.loader.project_state(LAST_BEFORE, at_end=True).apps
    _migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())
    ContentType.objects.clear_cache()


def test_the_monthly_cycle_moves_to_billing_with_its_rows(before_the_move) -> None:
    old = before_the_move
    Account = old.get_model("accounts", "Account")
    Invoice = old.get_model("invoices", "Invoice")
    OldAutoCharge = old.get_model("payments", "AutoCharge")
    OldLateFee = old.get_model("payments", "LateFee")
    OldPayment = old.get_model("payments", "Payment")
    OldAuditEntry = old.get_model("accounts", "AuditEntry")

    account = Account.objects.create(
        company_name="Old Data Ltd", address_line1="1 Main Street", city="Austin", country="US"
    )
    october = _invoice(Invoice, account, "INV-900001")
    fee_invoice = _invoice(Invoice, account, "INV-900002", type="one_time")
    charge = OldAutoCharge.objects.create(
        invoice=october,
        account=account,
        state="scheduled",
        attempts=2,
        declines=2,
        decline_code="insufficient_funds",
        next_attempt_at=timezone.make_aware(datetime(2026, 10, 4, 2)),
    )
    tries = [
        OldPayment.objects.create(
            account=account,
            key=f"autocharge:{october.pk}:{n}",
            method="card_on_file",
            state="declined",
            amount=Decimal("100.00"),
            currency="USD",
            gateway="sandbox",
            autocharge=charge,
            decline_code="insufficient_funds",
        )
        for n in (1, 2)
    ]
    one_time = OldPayment.objects.create(
        account=account,
        key="one-time-payment-key",
        method="card",
        state="declined",
        amount=Decimal("10.00"),
        currency="USD",
        gateway="sandbox",
    )
    fee = OldLateFee.objects.create(
        invoice=october, period=0, fee_invoice=fee_invoice, overdue=Decimal("100.00")
    )
    OldAuditEntry.objects.create(
        account=account,
        action="payments.autocharge.declined",
        object_type="payments.payment",
        object_id=str(tries[0].pk),
    )
    OldAuditEntry.objects.create(
        account=account,
        action="payments.payment.succeeded",
        object_type="payments.payment",
        object_id=str(one_time.pk),
    )

    _migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())
    ContentType.objects.clear_cache()

    moved = AutoCharge.objects.get(pk=charge.pk)
    assert (moved.invoice_id, moved.account_id, moved.state, moved.declines) == (
        october.pk,
        account.pk,
        AutoCharge.State.SCHEDULED,
        2,
    )
    assert moved.next_attempt_at == timezone.make_aware(datetime(2026, 10, 4, 2))
    assert sorted(moved.payments.values_list("pk", flat=True)) == [p.pk for p in tries]
    assert [p.pay_first_id for p in Payment.objects.filter(pk__in=[t.pk for t in tries])] == [
        october.pk,
        october.pk,
    ]
    assert Payment.objects.get(pk=one_time.pk).pay_first_id is None
    assert not hasattr(Payment.objects.get(pk=one_time.pk), "autocharge_id")
    late = LateFee.objects.get(pk=fee.pk)
    assert (late.invoice_id, late.fee_invoice_id, late.overdue) == (
        october.pk,
        fee_invoice.pk,
        Decimal("100.000"),
    )
    actions = set(AuditEntry.objects.values_list("action", flat=True))
    assert actions == {"billing.autocharge.declined", "payments.payment.succeeded"}
    # The staff permissions on these records follow them.
    assert Permission.objects.filter(
        content_type__app_label="billing", codename="view_autocharge"
    ).exists()
    assert not ContentType.objects.filter(app_label="payments", model="autocharge").exists()
    with connection.cursor() as cursor:
        tables = connection.introspection.table_names(cursor)
    assert {"billing_autocharge", "billing_latefee", "billing_autochargepayment"} <= set(tables)
    assert not {"payments_autocharge", "payments_latefee"} & set(tables)
