"""`rows_update`: the changed fields of many rows in one UPDATE, each row its own values."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from accounts.bulk import rows_update
from accounts.models import OutboundEmail

pytestmark = pytest.mark.django_db


def _email(n: int) -> OutboundEmail:
    return OutboundEmail.objects.create(
        key=f"k{n}", to=[f"a{n}@example.com"], subject="s", body="b"
    )


def test_each_row_gets_its_own_values_in_one_statement(django_assert_num_queries) -> None:
    first, second, untouched = _email(1), _email(2), _email(3)
    first.subject, first.attempts, first.to = "Ninety-nine", 99, ["x@example.com", "y@example.com"]
    first.last_error = 'it\'s "quoted"; DROP TABLE x'
    second.subject, second.attempts, second.to = "二", 2, []
    first.state = second.state = OutboundEmail.State.SENT

    with django_assert_num_queries(1):
        assert (
            rows_update([first, second], ["subject", "attempts", "to", "state", "last_error"]) == 2
        )

    rows = {e.key: e for e in OutboundEmail.objects.all()}
    assert (rows["k1"].subject, rows["k1"].attempts, rows["k1"].to) == (
        "Ninety-nine",
        99,
        ["x@example.com", "y@example.com"],
    )
    assert rows["k1"].last_error == 'it\'s "quoted"; DROP TABLE x'
    assert (rows["k2"].subject, rows["k2"].attempts, rows["k2"].to) == ("二", 2, [])
    assert rows["k1"].state == rows["k2"].state == OutboundEmail.State.SENT
    # Only the rows given, only the fields named.
    assert (rows["k3"].subject, rows["k3"].state) == ("s", untouched.state)
    assert rows["k1"].body == "b"


def test_nulls_and_datetimes_are_written_as_their_column_type() -> None:
    email = _email(1)
    moment = datetime(2026, 10, 1, 2, 0, 30, tzinfo=UTC)
    email.sent_at = moment
    rows_update([email], ["sent_at"])
    assert OutboundEmail.objects.get(pk=email.pk).sent_at == moment
    email.sent_at = None
    rows_update([email], ["sent_at"])
    assert OutboundEmail.objects.get(pk=email.pk).sent_at is None


def test_nothing_to_write_sends_nothing(django_assert_num_queries) -> None:
    with django_assert_num_queries(0):
        assert rows_update([], ["subject"]) == 0


def test_unsaved_rows_and_the_key_are_refused() -> None:
    with pytest.raises(ValueError, match="saved rows"):
        rows_update([OutboundEmail(key="new")], ["subject"])
    email = _email(1)
    with pytest.raises(ValueError, match="of the model itself"):
        rows_update([email], ["id"])


def test_keys_decimals_and_dates_and_a_value_too_long_fails_as_save_does(account) -> None:
    from django.db import DataError, transaction

    from invoices.models import RecurringCharge

    charge = RecurringCharge.objects.create(
        account=account, description="VPS", unit_price=Decimal("20.00"), starts_on=date(2026, 10, 1)
    )
    email = _email(1)
    email.account = account
    rows_update([email], ["account"])
    assert OutboundEmail.objects.get(pk=email.pk).account_id == account.pk
    charge.unit_price, charge.invoiced_through = Decimal("19.995"), date(2026, 11, 1)
    rows_update([charge], ["unit_price", "invoiced_through"])
    charge.refresh_from_db()
    assert (charge.unit_price, charge.invoiced_through) == (Decimal("19.995"), date(2026, 11, 1))
    # Not cut short to the column's length: refused, as save() refuses it.
    email.subject = "x" * 300
    with pytest.raises(DataError), transaction.atomic():
        rows_update([email], ["subject"])
    assert OutboundEmail.objects.get(pk=email.pk).subject == "s"


def test_expressions_are_refused() -> None:
    from django.db.models import F

    email = _email(1)
    email.attempts = F("attempts") + 1
    with pytest.raises(ValueError, match="not expressions"):
        rows_update([email], ["attempts"])
