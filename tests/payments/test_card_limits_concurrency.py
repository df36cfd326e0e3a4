"""The card-testing limits hold when the requests arrive all at once: each attempt is counted
and recorded under the locks of what it is counted against (the account, the user, the
client address), so eight requests at the same moment cannot all see the count of before.

The limits count declined cards (and attempts not answered yet) and different cards, not
cards that work: the requests here use a declined card, whose attempt counts whether or not
it was answered when the next one is counted, or different cards."""

from __future__ import annotations

import threading
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest
from django.db import connection

from accounts.models import Account, Membership, User
from invoices.documents import RenderedPdf
from payments.card_checks import BillingAddress
from payments.cards import payment_method_add
from payments.core import new_key
from payments.errors import PaymentError, PaymentMethodError, TooManyAttempts
from payments.models import Payment, PaymentMethod
from payments.one_time import payment_pay_by_card
from sandbox_gateway.models import SandboxRequest
from tests.conftest import IssueFn, TokenFn
from tests.factories import AccountFactory, MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

AT_ONCE = 8
ADDRESS = "198.51.100.23"
DECLINED = "4000000000000002"


def _all_at_once(calls: list[Callable[[], object]]) -> list[str]:
    """Run the calls in threads released together; what each ended in, by name."""
    barrier = threading.Barrier(len(calls))
    outcomes: list[str] = []
    lock = threading.Lock()

    def run(call: Callable[[], object]) -> None:
        try:
            barrier.wait()
            call()
            outcome = "done"
        except TooManyAttempts:
            outcome = "too many"
        except (PaymentError, PaymentMethodError) as error:
            outcome = f"refused: {error}"
        finally:
            connection.close()
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sorted(outcomes)


def _card_numbers(count: int) -> list[str]:
    """Distinct Visa numbers that pass the Luhn check (the sandbox takes any such card)."""

    def check_digit(body: str) -> str:
        total = 0
        for position, digit in enumerate(reversed(body)):
            value = int(digit) * (2 if position % 2 == 0 else 1)
            total += value - 9 if value > 9 else value
        return str(-total % 10)

    bodies = [f"424242424242{n:03d}" for n in range(count)]
    return [body + check_digit(body) for body in bodies]


@pytest.fixture(autouse=True)
def _quick_setup(monkeypatch: pytest.MonkeyPatch, settings, tmp_path: Path) -> None:
    # Each invoice issued lays out its PDF and each user hashes a password (a second or so
    # each): these tests need neither.
    monkeypatch.setattr(
        "invoices.documents.render_invoice_pdf", lambda *args: RenderedPdf(b"%PDF-", 1)
    )
    settings.MEDIA_ROOT = tmp_path
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def _owner_of(account: Account, n: int) -> User:
    user = UserFactory(email=f"owner{n}@example.com")
    MembershipFactory(user=user, account=account, role=Membership.Role.OWNER)
    return user


def _add(account: Account, user: User, token: str, ip: str | None = None) -> Callable[[], object]:
    return lambda: payment_method_add(
        account=account,
        by=user,
        token=token,
        address=BillingAddress.of_account(account),
        contact_email="cards@example.com",
        ip=ip,
    )


def _pay(account: Account, user: User, token: str, ip: str | None) -> Callable[[], object]:
    return lambda: payment_pay_by_card(
        account=account,
        by=user,
        token=token,
        amount=Decimal("10.00"),
        currency=account.currency,
        key=new_key(),
        address=BillingAddress.of_account(account),
        ip=ip,
    )


def test_cards_added_at_the_same_moment_stop_at_the_accounts_limit(
    settings, card_token: TokenFn
) -> None:
    settings.CARD_NEW_PER_WINDOW = 3
    settings.CARD_DECLINES_PER_HOUR = 100
    settings.CARD_DISTINCT_PER_HOUR = 100
    account = AccountFactory()
    users = [_owner_of(account, n) for n in range(AT_ONCE)]
    numbers = _card_numbers(2 + AT_ONCE)
    for number in numbers[:2]:
        _add(account, users[0], card_token(number))()
    tokens = [card_token(number) for number in numbers[2:]]

    outcomes = _all_at_once([_add(account, u, t) for u, t in zip(users, tokens, strict=True)])

    assert outcomes == ["done"] + ["too many"] * (AT_ONCE - 1)
    assert PaymentMethod.objects.filter(account=account).count() == 3


def test_cards_added_at_the_same_moment_from_one_address_stop_at_the_hourly_limit(
    settings, card_token: TokenFn
) -> None:
    settings.CARD_DECLINES_PER_HOUR = 5
    calls = []
    for n in range(AT_ONCE):
        account = AccountFactory()
        calls.append(_add(account, _owner_of(account, n), card_token(DECLINED), ADDRESS))

    outcomes = _all_at_once(calls)

    assert outcomes == ["done"] * 5 + ["too many"] * (AT_ONCE - 5)
    assert PaymentMethod.objects.filter(created_ip=ADDRESS).count() == 5


def test_payments_at_the_same_moment_from_one_address_stop_at_the_hourly_limit(
    settings, issue: IssueFn, card_token: TokenFn
) -> None:
    """Eight accounts, eight users, one address: the address's limit lets five through."""
    settings.CARD_DECLINES_PER_HOUR = 5
    calls = []
    for n in range(AT_ONCE):
        account = AccountFactory()
        issue(account, "100.00")
        calls.append(_pay(account, _owner_of(account, n), card_token(DECLINED), ADDRESS))

    outcomes = _all_at_once(calls)

    assert outcomes == ["done"] * 5 + ["too many"] * (AT_ONCE - 5)
    assert Payment.objects.filter(created_ip=ADDRESS).count() == 5
    assert SandboxRequest.objects.filter(kind="charge").count() == 5


def test_payments_at_the_same_moment_by_one_user_of_several_accounts_stop_at_the_limit(
    settings, issue: IssueFn, card_token: TokenFn
) -> None:
    """The user's limit spans the accounts the user belongs to (no address is known)."""
    settings.CARD_DECLINES_PER_HOUR = 5
    user = UserFactory(email="everywhere@example.com")
    calls = []
    for _n in range(AT_ONCE):
        account = AccountFactory()
        MembershipFactory(user=user, account=account, role=Membership.Role.BILLING)
        issue(account, "100.00")
        calls.append(_pay(account, user, card_token(DECLINED), None))

    outcomes = _all_at_once(calls)

    assert outcomes == ["done"] * 5 + ["too many"] * (AT_ONCE - 5)
    assert Payment.objects.filter(created_by=user).count() == 5


def test_different_good_cards_at_the_same_moment_from_one_address_stop_at_the_limit(
    settings, issue: IssueFn, card_token: TokenFn
) -> None:
    """Eight accounts paying at once from one address with eight different cards: the
    different cards are counted, so five are charged. (The sandbox declines these numbers,
    which are not its test cards; declines are not what is counted here.)"""
    settings.CARD_DISTINCT_PER_HOUR = 5
    settings.CARD_DECLINES_PER_HOUR = 100
    calls = []
    for n, number in enumerate(_card_numbers(AT_ONCE)):
        account = AccountFactory()
        issue(account, "100.00")
        calls.append(_pay(account, _owner_of(account, n), card_token(number), ADDRESS))

    outcomes = _all_at_once(calls)

    assert outcomes == ["done"] * 5 + ["too many"] * (AT_ONCE - 5)
    assert Payment.objects.filter(created_ip=ADDRESS).count() == 5
    assert SandboxRequest.objects.filter(kind="charge").count() == 5
