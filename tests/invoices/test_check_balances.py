from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command

from accounts.models import Account
from invoices.models import Invoice
from invoices.services import invoice_issue_credit

pytestmark = pytest.mark.django_db


def test_balances_that_reconcile_pass(account: Account, issue, capsys) -> None:
    original = issue(account, "100.00")
    invoice_issue_credit(original=original, amount=Decimal("40.00"), reason="x")
    call_command("check_balances")
    assert "Every balance reconciles." in capsys.readouterr().out


def test_a_tampered_balance_is_caught(account: Account, issue, capsys) -> None:
    invoice = issue(account, "100.00")
    Invoice.objects.filter(pk=invoice.pk).update(balance=Decimal("90.00"))
    with pytest.raises(CommandError) as caught:
        call_command("check_balances")
    assert caught.value.returncode == 1
    err = capsys.readouterr().err
    assert invoice.number in err
    assert "balance 90.000 USD" in err
    assert "say 100.000 USD" in err


def test_the_demo_data_reconciles(demo: Account, capsys) -> None:
    call_command("check_balances")
    assert "Every balance reconciles." in capsys.readouterr().out
