"""With Redis down, a change the database committed stands: the customer gets the page of
what happened, the failed enqueue is logged (without card data) and left to the sweeps,
which send and verify what was left once Redis is back."""

from __future__ import annotations

import logging
import re
import time
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core import mail
from django.db import transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import Account, OutboundEmail
from accounts.outbox import RenderedEmail, email_queue
from accounts.tasks import outbox_sweep_task
from payments.models import Payment, PaymentMethod
from portal.celery import app
from sandbox_gateway.models import SandboxRequest
from tests.conftest import IssueFn

pytestmark = pytest.mark.django_db(transaction=True)
PAY = "/payments/"
ADD = reverse("payments:add")


def _pay_form(client: Client, **overrides: str) -> dict[str, str]:
    html = client.get(PAY).content.decode()
    data = {
        name: re.search(rf'name="{name}"[^>]*value="([^"]*)"', html).group(1)  # type: ignore[union-attr]
        for name in ("amount", "currency", "key")
    }
    data.update(use_company_info="on")
    data.update(overrides)
    return data


def _redis_is_back() -> None:
    """As if the broker answered again: tasks run in-process from here on."""
    app.conf.task_always_eager = True


def test_a_card_payment_with_redis_down_shows_the_success_page_and_is_applied_once(
    owner_client: Client, account: Account, issue: IssueFn, card_token, dead_broker, caplog
) -> None:
    invoice = issue(account, "100.00")
    form = _pay_form(owner_client, amount="40.00", card_token=card_token())

    with caplog.at_level(logging.WARNING, logger="portal.celery"):
        response = owner_client.post(PAY, form)

    assert response.status_code == 302
    page = owner_client.get(response["Location"])
    assert page.status_code == 200
    assert "Thank you: your payment was received" in page.content.decode()
    payment = Payment.objects.get()
    assert payment.state == Payment.State.SUCCEEDED
    invoice.refresh_from_db()
    assert invoice.balance == Decimal("60.00")
    assert SandboxRequest.objects.filter(kind="charge").count() == 1
    # The receipt waits in the outbox; the failure is logged, with no card data.
    receipt = OutboundEmail.objects.get(key__contains="receipt")
    assert receipt.state == OutboundEmail.State.QUEUED
    assert any("left for the sweep" in r.getMessage() for r in caplog.records)
    assert "4242424242424242" not in caplog.text and form["card_token"] not in caplog.text

    _redis_is_back()
    OutboundEmail.objects.update(next_attempt_at=timezone.now() - timedelta(minutes=10))
    outbox_sweep_task.apply()
    outbox_sweep_task.apply()
    receipt.refresh_from_db()
    assert receipt.state == OutboundEmail.State.SENT
    assert len([m for m in mail.outbox if m.subject == receipt.subject]) == 1
    assert Payment.objects.count() == 1


def test_adding_a_card_with_redis_down_shows_it_pending_and_the_sweep_verifies_it_once(
    owner_client: Client, card_token, dead_broker
) -> None:
    response = owner_client.post(
        ADD,
        {
            "use_company_info": "on",
            "contact_email": "billing@example.com",
            "card_token": card_token(),
        },
    )

    assert response.status_code == 302
    method = PaymentMethod.objects.get()
    assert response["Location"] == f"{reverse('payments:methods')}?added={method.pk}"
    assert method.state == PaymentMethod.State.VERIFYING
    assert not SandboxRequest.objects.filter(kind="verify").exists()

    from payments.tasks import payment_methods_redrive_task

    _redis_is_back()
    # A card still verifying minutes later has lost its verification: the sweep sends it
    # again, and again, and the card is verified once.
    PaymentMethod.objects.update(created_at=timezone.now() - timedelta(minutes=10))
    assert payment_methods_redrive_task.apply().get() == 1
    assert payment_methods_redrive_task.apply().get() == 0
    method.refresh_from_db()
    assert method.state == PaymentMethod.State.AWAITING_APPROVAL
    assert SandboxRequest.objects.filter(kind="verify").count() == 1
    OutboundEmail.objects.update(next_attempt_at=timezone.now() - timedelta(minutes=10))
    outbox_sweep_task.apply()
    emails = OutboundEmail.objects.filter(key__startswith=f"payments.payment_method.{method.pk}.")
    assert sorted(e.key.rsplit(".", 1)[1] for e in emails) == ["awaiting_approval", "verifying"]
    assert all(e.state == OutboundEmail.State.SENT for e in emails)
    assert len(mail.outbox) == 2


def test_an_enqueue_to_a_redis_that_never_answers_gives_up_within_two_seconds(
    silent_broker,
) -> None:
    started = time.monotonic()
    with transaction.atomic():
        email_queue(
            key="slow:1",
            to=["a@example.com"],
            email=RenderedEmail(subject="Hello", body="Body", html=""),
        )
    assert time.monotonic() - started < 2.5
    assert OutboundEmail.objects.get().state == OutboundEmail.State.QUEUED
