from __future__ import annotations

from decimal import Decimal
from smtplib import SMTPServerDisconnected

import pytest
from django.core import mail
from django.core.mail.backends.locmem import EmailBackend as LocmemBackend
from django.db import transaction

from accounts.models import Account, Membership, OutboundEmail, User
from accounts.outbox import RenderedEmail, email_queue, email_send, render_email
from accounts.tasks import email_send_task
from invoices.services import ItemSpec, invoice_issue_one_time
from payments.models import PaymentMethod
from portal.celery import app as celery_app
from tests.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db


class FlakyBackend(LocmemBackend):
    """Fails the first `failures` sends, like an SMTP server that drops the connection."""

    failures = 0

    def send_messages(self, messages):  # type: ignore[no-untyped-def]
        if FlakyBackend.failures > 0:
            FlakyBackend.failures -= 1
            raise SMTPServerDisconnected("Connection unexpectedly closed")
        return super().send_messages(messages)


@pytest.fixture
def eager_retries():
    """In-process, a retry runs at once; let it run instead of raising Retry to the test."""
    previous = celery_app.conf.task_eager_propagates
    celery_app.conf.task_eager_propagates = False
    yield
    celery_app.conf.task_eager_propagates = previous


@pytest.fixture
def flaky(settings):
    settings.MAILERS = {"default": {"BACKEND": "tests.accounts.test_outbox.FlakyBackend"}}
    FlakyBackend.failures = 0
    return FlakyBackend


def _queue(key: str = "test:1") -> OutboundEmail | None:
    email = RenderedEmail(subject="Hello", body="Body", html="<p>Body</p>")
    return email_queue(key=key, to=["a@example.com"], email=email)


def test_an_email_is_written_with_the_change_and_sent_after_the_commit(
    django_capture_on_commit_callbacks,
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        email = _queue()
    assert email is not None
    email.refresh_from_db()
    assert email.state == OutboundEmail.State.SENT
    assert [m.subject for m in mail.outbox] == ["Hello"]


def test_a_rolled_back_change_leaves_no_email(django_capture_on_commit_callbacks) -> None:
    with (
        django_capture_on_commit_callbacks(execute=True),
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        _queue()
        raise RuntimeError("the change failed")
    assert not OutboundEmail.objects.exists()
    assert mail.outbox == []


def test_queuing_the_same_key_twice_queues_one_email() -> None:
    assert _queue("same") is not None
    assert _queue("same") is None
    assert OutboundEmail.objects.count() == 1


def test_a_failed_send_is_recorded_and_a_later_send_delivers_once(flaky) -> None:
    email = _queue()
    flaky.failures = 1
    with pytest.raises(SMTPServerDisconnected):
        email_send(email_id=email.pk)
    email.refresh_from_db()
    assert (email.state, email.attempts) == (OutboundEmail.State.QUEUED, 1)
    assert "Connection unexpectedly closed" in email.last_error
    assert email_send(email_id=email.pk) is True
    assert email_send(email_id=email.pk) is False  # a retried task does not send twice
    assert len(mail.outbox) == 1


def test_the_task_retries_until_the_server_answers(flaky, eager_retries) -> None:
    email = _queue()
    flaky.failures = 2
    assert email_send_task.apply(args=[email.pk]).get() is True
    email.refresh_from_db()
    assert (email.state, email.attempts) == (OutboundEmail.State.SENT, 3)
    assert len(mail.outbox) == 1


def test_a_send_queued_under_the_tasks_former_name_retries_the_same_way(
    flaky, eager_retries
) -> None:
    email = _queue()
    flaky.failures = 2
    former = celery_app.tasks["accounts.send_email"]
    assert former.apply(args=[email.pk]).get() is True
    email.refresh_from_db()
    assert (email.state, email.attempts) == (OutboundEmail.State.SENT, 3)


def test_the_task_gives_up_after_its_retries_and_marks_the_email_failed(
    flaky, eager_retries
) -> None:
    email = _queue()
    flaky.failures = 1000
    assert email_send_task.apply(args=[email.pk]).get() is False
    email.refresh_from_db()
    assert email.state == OutboundEmail.State.FAILED
    assert email.attempts == email_send_task.max_retries + 1
    assert mail.outbox == []


def test_issuing_an_invoice_emails_owners_and_billing_users_with_the_pdf(
    account: Account,
    owner: User,
    viewer: User,
    settings,
    tmp_path,
    django_capture_on_commit_callbacks,
) -> None:
    settings.MEDIA_ROOT = tmp_path
    billing = UserFactory(email="billing@example.com")
    MembershipFactory(user=billing, account=account, role=Membership.Role.BILLING)
    account.language = "zh-hans"
    account.save()
    with django_capture_on_commit_callbacks(execute=True):
        invoice = invoice_issue_one_time(
            account=account, items=[ItemSpec(description="Setup", unit_price=Decimal("10"))]
        )
    [message] = mail.outbox
    assert sorted(message.to) == ["billing@example.com", "owner@example.com"]
    assert message.subject == f"发票 {invoice.number}（一次性费用）"
    assert "上海云帆科技有限公司" in message.body
    assert f"/billing/invoices/{invoice.pk}/" in message.body
    [(filename, content, mimetype)] = message.attachments
    assert filename == f"invoice-{invoice.number}.pdf"
    assert mimetype == "application/pdf"
    assert content.startswith(b"%PDF")
    # The same message as HTML, in the account's language, its link a link.
    [(html, html_type)] = message.alternatives
    assert html_type == "text/html"
    assert '<html lang="zh-hans" dir="ltr">' in html
    assert "上海云帆科技有限公司" in html
    assert f'href="http://127.0.0.1:8000/billing/invoices/{invoice.pk}/"' in html


def test_the_html_alternative_escapes_what_the_text_says(account: Account) -> None:
    account.company_name = 'Evil <img src=x onerror="alert(1)"> & Co'
    email = render_email(
        "payments/email/card_status",
        {
            "method": PaymentMethod(account=account, brand="visa", last4="4242"),
            "account": account,
            "promise_hours": 24,
            "url": "http://127.0.0.1:8000/billing/payment-methods/",
        },
        language="en",
    )
    assert 'Evil <img src=x onerror="alert(1)"> & Co' in email.body
    assert "<img" not in email.html
    assert "Evil &lt;img src=x onerror=&quot;alert(1)&quot;&gt; &amp; Co" in email.html
    assert email.subject == "Your card ending 4242 is being verified"
    # The portal's own link is a link.
    assert '<a href="http://127.0.0.1:8000/billing/payment-methods/"' in email.html


def test_only_the_portals_own_addresses_become_links(account: Account) -> None:
    account.company_name = "Pay at https://evil.example.com/login & Co"
    email = render_email(
        "payments/email/card_overdue",
        {
            "method": PaymentMethod(account=account, brand="visa", last4="4242"),
            "breached": False,
            "promise_hours": 24,
            "hours": 21,
            "url": "http://127.0.0.1:8000/admin/payments/paymentmethod/?queue=awaiting",
        },
        language="en",
    )
    assert email.subject == (
        "Decide today: the card ending 4242 of Pay at https://evil.example.com/login & Co "
        "is waiting"
    )
    assert 'href="https://evil.example.com' not in email.html
    assert "https://evil.example.com/login &amp; Co" in email.html
    assert '<a href="http://127.0.0.1:8000/admin/payments/paymentmethod/?queue=awaiting"' in (
        email.html
    )


def test_an_email_whose_retry_was_lost_is_swept_once_it_is_due_whatever_its_attempts(
    flaky,
) -> None:
    from datetime import timedelta

    from django.utils import timezone

    from accounts.outbox import SWEEP_GRACE, email_backoff, outbox_sweep

    email = _queue()
    flaky.failures = 3
    for _attempt in range(3):
        with pytest.raises(SMTPServerDisconnected):
            email_send(email_id=email.pk)
    email.refresh_from_db()
    assert (email.state, email.attempts) == (OutboundEmail.State.QUEUED, 3)
    # Its retry (due after the task's back-off) was lost with Redis's queue.
    due = email.next_attempt_at
    assert abs((due - timezone.now()) - email_backoff(3)) < timedelta(seconds=5)
    assert outbox_sweep(now=due) == []  # its own retry still has its chance
    assert outbox_sweep(now=due + SWEEP_GRACE) == [email.pk]
    assert email_send(email_id=email.pk) is True
    assert outbox_sweep(now=due + timedelta(days=1)) == []  # sent: never swept again


def test_an_email_given_up_is_never_swept(flaky) -> None:
    from datetime import timedelta

    from django.utils import timezone

    from accounts.outbox import outbox_sweep

    email = _queue()
    OutboundEmail.objects.filter(pk=email.pk).update(state=OutboundEmail.State.FAILED)
    assert outbox_sweep(now=timezone.now() + timedelta(days=1)) == []
