from __future__ import annotations

import pytest
from django.core import mail

from accounts.models import Account, AuditEntry, OutboundEmail, User
from payments.card_checks import BillingAddress
from payments.cards import (
    payment_method_add,
    payment_method_approve,
    payment_method_reject,
    payment_method_remove,
    payment_method_set_monthly,
    payment_method_verify,
)
from payments.errors import PaymentMethodError, TooManyAttempts
from payments.models import GatewayAttempt, PaymentMethod
from payments.tasks import payment_method_verify_task
from portal.celery import app as celery_app
from sandbox_gateway.models import SandboxRequest

pytestmark = pytest.mark.django_db
State = PaymentMethod.State


def test_a_card_passes_the_gateway_then_waits_for_a_representative(
    account: Account, owner: User, add_card
) -> None:
    method = add_card(account, owner)
    assert method.state == State.AWAITING_APPROVAL
    assert method.credential and method.last4 == "4242" and method.brand == "visa"
    assert method.awaiting_since is not None
    attempt = GatewayAttempt.objects.get(payment_method=method)
    assert (attempt.kind, attempt.status) == (GatewayAttempt.Kind.VERIFY, "succeeded")
    keys = sorted(OutboundEmail.objects.values_list("key", flat=True))
    assert keys == [
        f"payments.payment_method.{method.pk}.awaiting_approval",
        f"payments.payment_method.{method.pk}.verifying",
    ]
    assert OutboundEmail.objects.first().to == ["cards@example.com"]


def test_the_status_emails_promise_the_configured_time(
    account: Account, owner: User, add_card, settings
) -> None:
    settings.CARD_PROMISE_HOURS = 48
    method = add_card(account, owner)
    email = OutboundEmail.objects.get(key=f"payments.payment_method.{method.pk}.awaiting_approval")
    assert "within 48 hours" in email.body
    assert "within 48 hours" in email.html_body


def test_approval_makes_the_first_verified_card_the_monthly_one(
    account: Account, owner: User, rep: User, add_card
) -> None:
    first = payment_method_approve(payment_method=add_card(account, owner), by=rep)
    assert (first.state, first.is_monthly, first.decided_by) == (State.VERIFIED, True, rep)
    second = payment_method_approve(
        payment_method=add_card(account, owner, "5555555555554444"), by=rep
    )
    assert not second.is_monthly
    payment_method_set_monthly(payment_method=second, by=owner)
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.is_monthly, second.is_monthly) == (False, True)
    entry = AuditEntry.objects.get(action="payments.payment_method.approved", object_id=first.pk)
    assert entry.actor == rep


def test_approving_twice_changes_nothing_and_other_states_cannot_be_approved(
    account: Account, owner: User, rep: User, add_card
) -> None:
    method = payment_method_approve(payment_method=add_card(account, owner), by=rep)
    decided_at = method.decided_at
    again = payment_method_approve(payment_method=method, by=rep)
    assert again.decided_at == decided_at
    declined = add_card(account, owner, "4000000000000002")
    with pytest.raises(PaymentMethodError):
        payment_method_approve(payment_method=declined, by=rep)
    declined.refresh_from_db()
    assert declined.state == State.REJECTED


def test_a_representative_rejects_with_a_reason(
    account: Account, owner: User, rep: User, add_card
) -> None:
    method = add_card(account, owner)
    with pytest.raises(PaymentMethodError):
        payment_method_reject(payment_method=method, by=rep, reason=" ")
    method = payment_method_reject(payment_method=method, by=rep, reason="Name does not match")
    assert (method.state, method.reason) == (State.REJECTED, "Name does not match")


@pytest.mark.parametrize(
    ("number", "reason"),
    [
        ("4000000000000002", "Your card was declined."),
        ("4000000000009995", "Your card has insufficient funds."),
        ("4000000000000069", "Your card has expired."),
        ("4000000000000127", "Your card's security code is incorrect."),
    ],
)
def test_a_declined_card_is_rejected_with_the_reason_in_plain_words(
    account: Account, owner: User, add_card, number: str, reason: str
) -> None:
    method = add_card(account, owner, number)
    assert method.state == State.REJECTED
    assert method.reason == reason
    assert method.decided_by is None  # the gateway decided


def test_the_reason_is_written_in_the_readers_language(
    account: Account, owner: User, add_card
) -> None:
    from django.utils import translation

    method = add_card(account, owner, "4000000000009995")
    with translation.override("zh-hans"):
        assert method.reason == "您的信用卡余额不足。"


def test_a_processing_error_is_retried_then_given_up(
    account: Account, owner: User, card_token
) -> None:
    method = payment_method_add(
        account=account,
        by=owner,
        token=card_token("4000000000000119"),
        address=BillingAddress.of_account(account),
        contact_email="cards@example.com",
    )
    previous = celery_app.conf.task_eager_propagates
    celery_app.conf.task_eager_propagates = False
    try:
        assert payment_method_verify_task.apply(args=[method.pk]).get() == "gave_up"
    finally:
        celery_app.conf.task_eager_propagates = previous
    method.refresh_from_db()
    assert method.state == State.REJECTED
    assert "could not be verified" in method.reason


def test_verifying_twice_asks_the_gateway_once(account: Account, owner: User, add_card) -> None:
    method = add_card(account, owner)
    payment_method_verify(payment_method_id=method.pk)
    assert payment_method_verify_task.apply(args=[method.pk]).get() == State.AWAITING_APPROVAL
    assert SandboxRequest.objects.filter(kind="verify").count() == 1


@pytest.mark.parametrize("token", ["", "tok_forged", "used"])
def test_a_missing_forged_or_used_token_adds_nothing(
    account: Account, owner: User, card_token, token: str
) -> None:
    if token == "used":
        token = card_token()
        payment_method_add(
            account=account,
            by=owner,
            token=token,
            address=BillingAddress.of_account(account),
            contact_email="a@example.com",
        )
        payment_method_verify(payment_method_id=PaymentMethod.objects.get().pk)
    before = PaymentMethod.objects.count()
    with pytest.raises(PaymentMethodError):
        payment_method_add(
            account=account,
            by=owner,
            token=token,
            address=BillingAddress.of_account(account),
            contact_email="a@example.com",
        )
    assert PaymentMethod.objects.count() == before


def test_card_testing_is_stopped_before_the_gateway_is_called(
    account: Account, owner: User, card_token, settings
) -> None:
    settings.CARD_NEW_PER_WINDOW = 2
    for number in ("4000000000000002", "4000000000009995"):
        payment_method_add(
            account=account,
            by=owner,
            token=card_token(number),
            address=BillingAddress.of_account(account),
            contact_email="a@example.com",
        )
    token = card_token()
    with pytest.raises(TooManyAttempts):
        payment_method_add(
            account=account,
            by=owner,
            token=token,
            address=BillingAddress.of_account(account),
            contact_email="a@example.com",
        )
    assert PaymentMethod.objects.count() == 2
    assert not SandboxRequest.objects.exists()


def test_removing_the_monthly_card_leaves_none(
    account: Account, owner: User, rep: User, add_card
) -> None:
    method = payment_method_approve(payment_method=add_card(account, owner), by=rep)
    method = payment_method_remove(payment_method=method, by=owner)
    assert (method.state, method.is_monthly) == (State.REMOVED, False)
    assert mail.outbox == []  # sent by the worker after commit, not inline
    assert OutboundEmail.objects.filter(key__endswith=".removed").exists()


def test_the_same_card_cannot_be_put_on_file_twice(
    account: Account, owner: User, other_account: Account, stranger: User, add_card, card_token
) -> None:
    first = add_card(account, owner, "4242424242424242")
    with pytest.raises(PaymentMethodError, match="already on file"):
        add_card(account, owner, "4242424242424242")
    assert PaymentMethod.objects.filter(account=account).count() == 1
    # Another account may have the same card; and once removed, it may be added again.
    add_card(other_account, stranger, "4242424242424242")
    payment_method_remove(payment_method=first, by=owner)
    again = add_card(account, owner, "4242424242424242")
    assert again.fingerprint == first.fingerprint and again.pk != first.pk
    assert "4242424242424242" not in first.fingerprint


def test_a_card_left_verifying_is_found_stuck_only_after_a_while_without_a_try(
    account: Account, owner: User, card_token, settings
) -> None:
    from datetime import timedelta

    from django.utils import timezone

    from payments.cards import payment_method_add, payment_methods_stuck_verifying

    settings.CARD_VERIFY_STUCK_MINUTES = 5
    # Added while Redis was down: the verification task never reached a worker.
    method = payment_method_add(
        account=account,
        by=owner,
        token=card_token(),
        address=BillingAddress.of_account(account),
        contact_email="cards@example.com",
    )
    now = timezone.now()
    assert payment_methods_stuck_verifying(now=now) == []
    assert payment_methods_stuck_verifying(now=now + timedelta(minutes=6)) == [method.pk]
    # A verification tried just now (its gateway busy, its retry waiting) is not stuck yet.
    GatewayAttempt.objects.create(
        idempotency_key=f"verify:{method.pk}",
        gateway=method.gateway,
        kind=GatewayAttempt.Kind.VERIFY,
        payment_method=method,
        status=GatewayAttempt.Status.FAILED,
        completed_at=now + timedelta(minutes=5),
    )
    assert payment_methods_stuck_verifying(now=now + timedelta(minutes=6)) == []
    assert payment_methods_stuck_verifying(now=now + timedelta(minutes=11)) == [method.pk]
    # Once verified it is never stuck again, and verifying it again does nothing more.
    payment_method_verify(payment_method_id=method.pk)
    payment_method_verify(payment_method_id=method.pk)
    assert payment_methods_stuck_verifying(now=now + timedelta(days=1)) == []
    assert SandboxRequest.objects.filter(kind="verify").count() == 1
