from __future__ import annotations

import time
from decimal import Decimal

import pytest
from celery.contrib.testing.worker import start_worker
from django.core import mail

from accounts.models import Membership, OutboundEmail
from invoices.models import InvoiceDocument
from invoices.services import ItemSpec, invoice_issue_one_time
from portal.celery import app
from tests.factories import AccountFactory, MembershipFactory, UserFactory


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_issuing_with_a_real_worker_stores_the_pdf_and_sends_the_email(settings, tmp_path) -> None:
    if not settings.REDIS_URL:
        pytest.skip("REDIS_URL is not set")
    settings.MEDIA_ROOT = tmp_path
    account = AccountFactory(company_name="上海云帆科技有限公司", country="CN")
    MembershipFactory(
        user=UserFactory(email="owner@example.com"), account=account, role=Membership.Role.OWNER
    )
    app.conf.task_always_eager = False
    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=60):
        invoice = invoice_issue_one_time(
            account=account, items=[ItemSpec(description="Setup", unit_price=Decimal("10"))]
        )
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            rendered = InvoiceDocument.objects.filter(
                invoice=invoice, rendered_at__isnull=False
            ).count()
            sent = OutboundEmail.objects.filter(state=OutboundEmail.State.SENT).exists()
            if rendered == len(settings.LANGUAGES) and sent:
                break
            time.sleep(0.2)
    documents = list(InvoiceDocument.objects.filter(invoice=invoice))
    assert sorted(d.language for d in documents) == ["en", "zh-hans"]
    assert all((tmp_path / d.file.name).exists() for d in documents)
    email = OutboundEmail.objects.get(key=f"invoices.invoice.issued:{invoice.pk}")
    assert email.state == OutboundEmail.State.SENT
    assert [m.attachments[0][0] for m in mail.outbox] == [f"invoice-{invoice.number}.pdf"]
