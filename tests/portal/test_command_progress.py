"""Long commands show their progress: a bar on a terminal, plain lines when the output is
not one (a file, a pipe, a log), with the counts and the elapsed time."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command

from accounts.progress import Progress
from invoices.models import Invoice, RecurringCharge
from tests.factories import AccountFactory

pytestmark = pytest.mark.django_db


class Terminal(StringIO):
    """What a terminal looks like to a command: `isatty()` is true."""

    def isatty(self) -> bool:
        return True


class Pipe(StringIO):
    def isatty(self) -> bool:
        return False


ELAPSED = r"\d+\.\d s elapsed"


@pytest.fixture
def accounts() -> int:
    for n in range(12):
        RecurringCharge.objects.create(
            account=AccountFactory(),
            description=f"Virtual Server {n}",
            category="Server",
            quantity=Decimal(1),
            unit_price=Decimal("10.00"),
            starts_on=date(2026, 10, 1),
        )
    return 12


def test_run_billing_writes_plain_progress_lines_when_not_on_a_terminal(accounts: int) -> None:
    out = Pipe()
    call_command("run_billing", "--date", "2026-10-01", stdout=out)
    text = out.getvalue()
    assert "\r" not in text and "\x1b" not in text
    lines = [line for line in text.splitlines() if line.startswith("Billing 2026-10-01:")]
    # One at the start, then each tenth of the way, then the end.
    assert lines[0].startswith("Billing 2026-10-01: 0/12 accounts")
    assert len(lines) >= 5
    last = lines[-1]
    assert re.fullmatch(
        rf"Billing 2026-10-01: 12/12 accounts, 12 issued, 12 charged, 0 late_fees, {ELAPSED}",
        last,
    ), last
    assert Invoice.objects.count() == accounts
    assert "12 account(s), 12 invoice(s) issued" in text


def test_run_billing_draws_a_progress_bar_on_a_terminal(accounts: int) -> None:
    out = Terminal()
    call_command("run_billing", "--date", "2026-10-01", stdout=out)
    text = out.getvalue()
    assert "\r" in text  # the bar redraws its line
    bar = text.split("\r")[-1].splitlines()[0]
    assert re.search(r"Billing 2026-10-01: 100%\|.*\| 12/12 \[", bar), bar
    assert "issued=12" in bar and "charged=12" in bar
    assert re.search(r"\[\d\d:\d\d<\d\d:\d\d", bar)  # elapsed < remaining
    assert not any(line.startswith("Billing 2026-10-01: 1/12") for line in text.splitlines())


def test_check_balances_shows_its_checks_both_ways(demo) -> None:
    out = Pipe()
    call_command("check_balances", stdout=out)
    lines = out.getvalue().splitlines()
    assert re.fullmatch(rf"Checking balances: 0/2 checks, {ELAPSED}", lines[0])
    assert re.fullmatch(rf"Checking balances: 2/2 checks, 0 mismatches, {ELAPSED}", lines[-2])
    assert lines[-1] == "Every balance reconciles."

    tty = Terminal()
    call_command("check_balances", stdout=tty)
    assert re.search(r"Checking balances: 100%\|.*\| 2/2 \[.*mismatches=0", tty.getvalue())


def test_seed_demo_shows_its_steps_both_ways() -> None:
    out = Pipe()
    call_command("seed_demo", stdout=out)
    text = out.getvalue()
    assert text.startswith("Demo data: 0/3 steps, ")
    assert re.search(
        rf"^Demo data: 3/3 steps, 1 invoices, 1 cards, 1 payments, {ELAPSED}$", text, re.M
    )
    tty = Terminal()
    call_command("seed_demo", stdout=tty)
    assert re.search(r"Demo data: 100%\|.*\| 3/3 \[", tty.getvalue())
    assert "Demo data is ready." in tty.getvalue()


def test_plain_lines_come_at_each_tenth_and_name_minutes_past_one() -> None:
    out = Pipe()
    tracker = Progress(out, total=100, description="Work", unit="items")
    for _ in range(100):
        tracker.advance(ok=1)
    tracker._started -= 125  # as if it had taken two minutes more
    summary = tracker.close()
    lines = out.getvalue().splitlines()
    assert [line.split(",")[0] for line in lines] == [
        f"Work: {n}/100 items" for n in (0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100)
    ]
    assert re.fullmatch(r"Work: 100/100 items, 100 ok, 2 min 0[5-6] s elapsed", summary)
