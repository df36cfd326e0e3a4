"""Redis killed in the middle of a payment, of adding a card and of a billing run, then
started again (empty, on the same port): nothing is lost and nothing done twice, and the
customer whose payment succeeded saw the page saying so, not a 500.

Redis is killed from inside the gateway call, the moment the money moves; what was queued
in it is gone. The sweeps that Celery beat runs every few minutes (here called with the
clock past their grace) find in PostgreSQL what is left to do."""

from __future__ import annotations

import re
from collections import Counter
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import Account, Membership, OutboundEmail
from accounts.outbox import outbox_sweep
from accounts.tasks import email_send_task
from billing.models import AutoCharge
from billing.tasks import billing_run_task
from invoices.models import Invoice, RecurringCharge
from payments.cards import payment_method_approve, payment_methods_stuck_verifying
from payments.models import Payment, PaymentMethod
from payments.tasks import payment_method_verify_task
from portal.celery import app
from sandbox_gateway import processor
from sandbox_gateway.models import SandboxRequest
from tests.conftest import IssueFn
from tests.factories import AccountFactory, MembershipFactory, UserFactory
from tests.faults.conftest import RedisServer, wait_for

pytestmark = pytest.mark.django_db(transaction=True)
PAY = "/payments/"


def _kill_redis_during(monkeypatch, server: RedisServer, name: str, *, on_call: int = 1) -> None:
    """Redis dies while the processor's `name` runs (on its `on_call`-th call)."""
    real = getattr(processor, name)
    calls = {"n": 0}

    def dying(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == on_call:
            server.stop()
        return real(*args, **kwargs)

    monkeypatch.setattr(processor, name, dying)


def _sweep_later(minutes: int = 15) -> None:
    """The sweeps, as beat runs them, `minutes` from now: each due email and stuck card is
    sent to the worker again."""
    later = timezone.now() + timedelta(minutes=minutes)
    for email_id in outbox_sweep(now=later):
        email_send_task.delay(email_id)
    for method_id in payment_methods_stuck_verifying(now=later):
        payment_method_verify_task.delay(method_id)


def _all_sent() -> bool:
    return not OutboundEmail.objects.exclude(state=OutboundEmail.State.SENT).exists()


def _sent_once(since_pk: int = 0) -> None:
    """Every email written (after `since_pk`) was sent, and each once."""
    written = OutboundEmail.objects.filter(pk__gt=since_pk)
    assert written.exists()
    assert _all_sent()
    twice = [k for k, n in Counter((m.subject, tuple(m.to)) for m in mail.outbox).items() if n > 1]
    assert twice == []
    assert len(mail.outbox) == written.count()


def test_redis_dies_during_a_card_payment_the_customer_sees_it_paid_and_is_charged_once(
    owner_client: Client,
    account: Account,
    issue: IssueFn,
    card_token,
    redis_server,
    redis_worker,
    monkeypatch,
) -> None:
    invoice = issue(account, "100.00")
    html = owner_client.get(PAY).content.decode()
    form = {
        name: re.search(rf'name="{name}"[^>]*value="([^"]*)"', html).group(1)  # type: ignore[union-attr]
        for name in ("amount", "currency", "key")
    }
    form.update(use_company_info="on", card_token=card_token())
    _kill_redis_during(monkeypatch, redis_server, "charge")

    response = owner_client.post(PAY, form)

    assert not redis_server.running
    assert response.status_code == 302
    page = owner_client.get(response["Location"])
    assert page.status_code == 200
    assert "Thank you: your payment was received" in page.content.decode()
    assert owner_client.post(PAY, form).status_code == 302  # pressed again: the same payment

    redis_server.start()
    with redis_worker():
        _sweep_later()
        wait_for(_all_sent, what="the receipt sent")
    assert Payment.objects.get().state == Payment.State.SUCCEEDED
    assert SandboxRequest.objects.filter(kind="charge").count() == 1
    invoice.refresh_from_db()
    assert invoice.state == Invoice.State.PAID
    _sent_once()


def test_redis_dies_while_a_card_is_added_and_the_card_is_verified_once_when_it_is_back(
    owner_client: Client, card_token, redis_server, redis_worker, monkeypatch
) -> None:
    _kill_redis_during(monkeypatch, redis_server, "describe_token")

    response = owner_client.post(
        reverse("payments:add"),
        {
            "use_company_info": "on",
            "contact_email": "cards@example.com",
            "card_token": card_token(),
        },
    )

    assert not redis_server.running
    assert response.status_code == 302
    said = owner_client.get(response["Location"]).content.decode()
    assert "was added and is being checked with the card issuer" in said
    method = PaymentMethod.objects.get()
    assert method.state == PaymentMethod.State.VERIFYING

    redis_server.start()
    with redis_worker():
        _sweep_later()
        _sweep_later()  # beat runs again before the worker is done: still verified once
        wait_for(
            lambda: PaymentMethod.objects.filter(
                state=PaymentMethod.State.AWAITING_APPROVAL
            ).exists(),
            what="the card verified",
        )
        _sweep_later()
        wait_for(_all_sent, what="the card's emails sent")
    assert SandboxRequest.objects.filter(kind="verify").count() == 1
    keys = sorted(OutboundEmail.objects.values_list("key", flat=True))
    assert keys == [
        f"payments.payment_method.{method.pk}.awaiting_approval",
        f"payments.payment_method.{method.pk}.verifying",
    ]
    _sent_once()


def test_redis_dies_during_a_billing_run_and_every_account_is_billed_and_charged_once(
    settings, rep, add_card, redis_server, redis_worker, monkeypatch
) -> None:
    settings.BILLING_CHUNK_SIZE = 2
    app.conf.task_always_eager = True  # the cards are added in-process, before the run
    for n in range(5):
        account = AccountFactory(company_name=f"Customer {n}")
        owner = UserFactory(email=f"owner{n}@example.com")
        MembershipFactory(user=owner, account=account, role=Membership.Role.OWNER)
        payment_method_approve(payment_method=add_card(account, owner), by=rep)
        RecurringCharge.objects.create(
            account=account,
            description="Virtual Server",
            unit_price=Decimal("40.00"),
            starts_on=date(2026, 10, 1),
        )
    app.conf.task_always_eager = False
    mail.outbox.clear()
    before_the_run = OutboundEmail.objects.order_by("pk").last().pk
    # Redis dies while the third account is charged: the chunks still queued are lost.
    _kill_redis_during(monkeypatch, redis_server, "charge", on_call=3)

    with redis_worker():
        assert billing_run_task("2026-10-01") == 5
        wait_for(lambda: not redis_server.running, what="Redis killed mid-run")
        wait_for(
            lambda: Payment.objects.filter(state=Payment.State.SUCCEEDED).count() >= 3,
            what="the chunk under way finished",
        )
        redis_server.start()
        # The next run (beat's, or an operator's) and the sweeps finish what was lost.
        billing_run_task("2026-10-01")
        wait_for(
            lambda: Payment.objects.filter(state=Payment.State.SUCCEEDED).count() == 5,
            what="every account charged",
        )
        _sweep_later()
        wait_for(_all_sent, timeout=25, what="every email sent")
    assert billing_run_task("2026-10-01") == 0
    for invoice in Invoice.objects.all():
        assert invoice.state == Invoice.State.PAID
        assert invoice.autocharge.state == AutoCharge.State.SUCCEEDED
    assert Invoice.objects.count() == 5
    assert Payment.objects.count() == 5
    assert SandboxRequest.objects.filter(kind="charge").count() == 5
    _sent_once(since_pk=before_the_run)
