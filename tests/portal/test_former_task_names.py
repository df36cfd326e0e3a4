"""Tasks renamed after their services still run under the names they had: a message queued,
or a retry scheduled, before the upgrade is not dropped as an unknown task."""

from __future__ import annotations

import pytest

from portal.celery import app

RENAMED = {
    "accounts.send_email": "accounts.email_send",
    "invoices.render_pdf": "invoices.invoice_documents_render",
    "invoices.render_missing_documents": "invoices.invoice_documents_missing",
    "payments.verify_payment_method": "payments.payment_method_verify",
    "payments.check_approval_promise": "payments.payment_methods_check_promise",
    "payments.expire_cards": "payments.payment_methods_expire",
    "payments.settle_payments": "payments.payments_settle",
    "payments.refund_unapplied": "payments.payment_refund_unapplied",
    "payments.paypal_sync": "payments.payment_paypal_sync",
    "payments.billing_run": "billing.billing_run",
    "payments.billing_run_chunk": "billing.billing_run_chunk",
    "payments.charge_due": "billing.autocharges_due",
    "payments.autocharge_attempt": "billing.autocharge_attempt",
}


def test_every_former_name_is_registered_beside_the_new_one() -> None:
    app.loader.import_default_modules()
    missing = [name for pair in RENAMED.items() for name in pair if name not in app.tasks]
    assert missing == []


@pytest.mark.django_db
def test_a_message_under_a_former_name_does_the_new_tasks_work() -> None:
    app.loader.import_default_modules()
    assert app.tasks["payments.settle_payments"].apply().get() == [0, 0]
    assert app.tasks["payments.charge_due"].apply().get() == 0
    assert app.tasks["invoices.render_missing_documents"].apply().get() == 0
