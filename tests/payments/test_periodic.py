from __future__ import annotations

from datetime import date, timedelta

import pytest

from accounts.models import Account, AuditEntry, OutboundEmail, User
from payments.cards import (
    payment_method_approve,
    payment_methods_check_promise,
    payment_methods_expire,
)
from payments.models import PaymentMethod
from payments.tasks import payment_methods_check_promise_task, payment_methods_expire_task

pytestmark = pytest.mark.django_db


def test_an_undecided_card_is_escalated_at_20_hours_and_breached_at_24_once_each(
    account: Account, owner: User, approver: User, add_card
) -> None:
    method = add_card(account, owner)
    added = method.created_at
    assert payment_methods_check_promise(now=added + timedelta(hours=19, minutes=59)) == (0, 0)
    assert payment_methods_check_promise(now=added + timedelta(hours=20)) == (1, 0)
    assert payment_methods_check_promise(now=added + timedelta(hours=20, minutes=10)) == (0, 0)
    assert payment_methods_check_promise(now=added + timedelta(hours=24)) == (0, 1)
    assert payment_methods_check_promise(now=added + timedelta(hours=30)) == (0, 0)

    method.refresh_from_db()
    assert method.state == PaymentMethod.State.AWAITING_APPROVAL  # never approved by itself
    assert method.escalated_at == added + timedelta(hours=20)
    assert method.promise_breached_at == added + timedelta(hours=24)
    actions = list(
        AuditEntry.objects.filter(
            object_id=method.pk,
            action__in=["payments.payment_method.escalated", "payments.payment_method.breached"],
        ).values_list("action", flat=True)
    )
    assert sorted(actions) == [
        "payments.payment_method.breached",
        "payments.payment_method.escalated",
    ]
    escalation = OutboundEmail.objects.get(key__endswith=".escalated")
    assert escalation.to == [approver.email]
    assert "still waiting for a decision" in escalation.body


def test_a_decided_card_is_never_escalated(
    account: Account, owner: User, approver: User, add_card
) -> None:
    method = payment_method_approve(payment_method=add_card(account, owner), by=approver)
    assert payment_methods_check_promise(now=method.created_at + timedelta(hours=25)) == (0, 0)


def test_the_periodic_tasks_run_as_tasks(account: Account, owner: User, add_card) -> None:
    add_card(account, owner)
    assert payment_methods_check_promise_task.apply().get() == [0, 0]
    assert payment_methods_expire_task.apply().get() == [0, 0]


def test_cards_are_warned_30_days_before_and_marked_expired_after_their_month(
    account: Account, owner: User, approver: User, add_card
) -> None:
    method = payment_method_approve(payment_method=add_card(account, owner), by=approver)
    PaymentMethod.objects.filter(pk=method.pk).update(exp_month=3, exp_year=2027)

    assert payment_methods_expire(today=date(2027, 2, 28)) == (0, 0)
    assert payment_methods_expire(today=date(2027, 3, 2)) == (0, 1)
    assert payment_methods_expire(today=date(2027, 3, 3)) == (0, 0)  # warned once
    warning = OutboundEmail.objects.get(key__endswith=".expiring")
    assert warning.to == ["cards@example.com"]
    assert "03/2027" in warning.body

    assert payment_methods_expire(today=date(2027, 4, 1)) == (1, 0)
    method.refresh_from_db()
    assert (method.state, method.is_monthly) == (PaymentMethod.State.EXPIRED, False)
    assert OutboundEmail.objects.filter(key__endswith=".expired").exists()
    assert payment_methods_expire(today=date(2027, 4, 2)) == (0, 0)
