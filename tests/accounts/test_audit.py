from __future__ import annotations

import pytest
from django.apps import apps
from django.utils import translation

from accounts.audit import AuditAction, audit_action, audit_actions, describe_action, log_action
from accounts.models import Account, AuditEntry


def test_every_app_declares_its_actions_with_a_description() -> None:
    names = [action.name for action in audit_actions()]
    apps_with_actions = {name.split(".")[0] for name in names}
    assert {"invoices", "payments", "billing"} <= apps_with_actions
    assert all(name.split(".")[0] in {a.label for a in apps.get_app_configs()} for name in names)
    assert len(names) == len(set(names))
    assert "billing.autocharge.declined" in names
    assert "payments.payment.succeeded" in names


def test_an_action_is_described_in_the_readers_language() -> None:
    with translation.override("zh-hans"):
        assert describe_action("payments.payment.succeeded") == "付款成功"
        assert describe_action("billing.late_fee.charged") == "已收取滞纳金"
    assert describe_action("payments.payment.succeeded") == "Payment succeeded"
    # An entry recorded under a name no longer declared still reads as something.
    assert describe_action("payments.something.old") == "payments.something.old"


def test_an_action_is_declared_once_and_named_app_object_verb() -> None:
    with pytest.raises(ValueError, match="declared twice"):
        audit_action("payments.payment.succeeded", "again")
    with pytest.raises(ValueError, match=r"<app>\.<object>\.<verb>"):
        audit_action("payments.succeeded", "too short")


@pytest.mark.django_db
def test_only_declared_actions_are_recorded(account: Account) -> None:
    stray = AuditAction("payments.payment.made_up", "Not declared")
    with pytest.raises(ValueError, match="not declared"):
        log_action(stray, obj=account, account=account)
    assert not AuditEntry.objects.exists()
