"""A batch of the billing run hands its PDFs and emails to the other queues in one message
for each kind, not one for each invoice and email; the worker of that queue fans them out,
each still a task of its own (its own retries, shared out among the worker's processes)."""

from __future__ import annotations

import base64
import json
from datetime import date
from decimal import Decimal

import pytest
import redis
from django.core import mail
from django.utils import timezone

from accounts.models import Account, Membership, OutboundEmail
from accounts.outbox import QueuedEmail, RenderedEmail, emails_queue
from accounts.tasks import emails_send_task
from billing.run import billing_run_chunk
from invoices.models import Invoice, RecurringCharge
from invoices.tasks import invoices_documents_render_task
from payments.cards import payment_method_approve
from portal.celery import app
from tests.factories import AccountFactory, MembershipFactory, UserFactory

DAY = date(2026, 10, 1)
QUEUES = ("money", "emails", "pdfs", "default")


def _queued(broker: redis.Redis, queue: str) -> list[tuple[str, list[object]]]:
    """(task name, arguments) of each message waiting in `queue`, oldest first."""
    messages = [json.loads(raw) for raw in reversed(broker.lrange(queue, 0, -1))]
    return [(m["headers"]["task"], json.loads(base64.b64decode(m["body"]))[0]) for m in messages]


@pytest.fixture
def broker(settings):
    if not settings.REDIS_URL:
        pytest.skip("REDIS_URL is not set")
    client = redis.Redis.from_url(settings.REDIS_URL)
    client.delete(*QUEUES)
    app.conf.task_always_eager = False
    yield client
    app.conf.task_always_eager = True
    client.delete(*QUEUES)


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_batch_sends_one_message_for_its_pdfs_and_one_for_each_kind_of_email(
    broker: redis.Redis, rep, add_card
) -> None:
    for n in range(3):
        account = AccountFactory(company_name=f"Customer {n}")
        owner = UserFactory(email=f"owner{n}@example.com")
        MembershipFactory(user=owner, account=account, role=Membership.Role.OWNER)
        payment_method_approve(payment_method=add_card(account, owner), by=rep)
        RecurringCharge.objects.create(
            account=account, description="VPS", unit_price=Decimal("20.00"), starts_on=DAY
        )
    broker.delete(*QUEUES)  # what adding and approving the cards sent

    done = billing_run_chunk(
        account_ids=list(Account.objects.values_list("pk", flat=True)),
        day=DAY,
        now=timezone.now(),
    )

    assert not done.failed
    invoices = sorted(Invoice.objects.values_list("pk", flat=True))
    assert _queued(broker, "pdfs") == [("invoices.invoices_documents_render", [invoices])]
    issued = sorted(
        OutboundEmail.objects.filter(key__startswith="invoices.invoice.issued:").values_list(
            "pk", flat=True
        )
    )
    receipts = sorted(
        OutboundEmail.objects.filter(key__startswith="payments.payment.receipt:").values_list(
            "pk", flat=True
        )
    )
    assert len(issued) == len(receipts) == 3
    # The invoice emails of the batch in one message. The receipts go out as the answers
    # are recorded (between batches, and at the end), so in one message or a few.
    queued = _queued(broker, "emails")
    assert ("accounts.emails_send", sorted(issued)) in [
        (name, sorted(first)) for name, (first,) in queued if isinstance(first, list)
    ]
    sent: list[int] = []
    for name, (first,) in queued:
        assert name in ("accounts.emails_send", "accounts.email_send")
        sent.extend(first if name == "accounts.emails_send" else [first])
    assert sorted(sent) == sorted(issued + receipts)


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_the_fan_out_tasks_queue_one_task_for_each(broker: redis.Redis) -> None:
    assert invoices_documents_render_task.apply(args=([7, 8],)).get() == 2
    assert _queued(broker, "pdfs") == [
        ("invoices.invoice_documents_render", [7]),
        ("invoices.invoice_documents_render", [8]),
    ]
    assert emails_send_task.apply(args=([3, 4, 5],)).get() == 3
    assert _queued(broker, "emails") == [("accounts.email_send", [n]) for n in (3, 4, 5)]


@pytest.mark.django_db
def test_in_process_the_fan_out_sends_every_email(
    account, django_capture_on_commit_callbacks
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        emails_queue(
            [
                QueuedEmail(
                    key=f"test:{n}",
                    to=["billing@example.com"],
                    email=RenderedEmail(subject=f"Subject {n}", body="Body", html="<p>Body</p>"),
                    account=account,
                )
                for n in range(3)
            ]
        )
    assert sorted(message.subject for message in mail.outbox) == [
        "Subject 0",
        "Subject 1",
        "Subject 2",
    ]
    assert not OutboundEmail.objects.filter(state=OutboundEmail.State.QUEUED).exists()
