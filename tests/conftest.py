"""The standard cast: an account's owner, a teammate who only views, a stranger from another
account and an account representative (staff); and the demo data of `manage.py seed_demo`."""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING

import pytest
from django.contrib.auth.models import Permission
from django.core import mail
from django.core.management import call_command
from django.utils import timezone

from accounts.models import Account, Membership, User
from invoices.models import Invoice
from invoices.services import ItemSpec, invoice_issue_one_time
from payments.card_checks import BillingAddress
from payments.cards import payment_method_add, payment_method_verify
from payments.core import new_key
from payments.models import Payment, PaymentMethod
from payments.one_time import payment_pay_by_card
from portal.celery import app as celery_app
from sandbox_gateway.processor import tokenize
from tests.factories import AccountFactory, MembershipFactory, UserFactory

if TYPE_CHECKING:
    from pathlib import Path

    from django.test import Client


@pytest.fixture(autouse=True)
def _plain_static_files(settings: object) -> None:
    # The manifest needs collectstatic; tests serve static files from the source tree.
    settings.STORAGES = {  # type: ignore[attr-defined]
        **settings.STORAGES,  # type: ignore[attr-defined]
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


@pytest.fixture(autouse=True)
def _celery_in_process() -> object:
    """Tasks run in-process unless a test starts a real worker (see `celery_worker`)."""
    previous = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = previous


@pytest.fixture
def account(db: None) -> Account:
    return AccountFactory(company_name="上海云帆科技有限公司", country="CN")


@pytest.fixture
def owner(account: Account) -> User:
    user = UserFactory(email="owner@example.com")
    MembershipFactory(user=user, account=account, role=Membership.Role.OWNER)
    return user


@pytest.fixture
def viewer(account: Account) -> User:
    user = UserFactory(email="viewer@example.com")
    MembershipFactory(user=user, account=account, role=Membership.Role.VIEWER)
    return user


@pytest.fixture
def other_account(db: None) -> Account:
    return AccountFactory(company_name="Stranger Hosting Inc")


@pytest.fixture
def stranger(other_account: Account) -> User:
    user = UserFactory(email="stranger@example.com")
    MembershipFactory(user=user, account=other_account, role=Membership.Role.OWNER)
    return user


@pytest.fixture
def rep(db: None) -> User:
    return UserFactory(email="rep@example.com", is_staff=True)


def grant(user: User, *codenames: str) -> User:
    """Give `user` the permissions named; a codename that names no permission fails the test."""
    permissions = list(Permission.objects.filter(codename__in=codenames))
    assert sorted(p.codename for p in permissions) == sorted(set(codenames)), codenames
    user.user_permissions.add(*permissions)
    return user


@pytest.fixture
def approver(rep: User) -> User:
    """The representative, with the permission to see and decide cards."""
    return grant(rep, "view_paymentmethod", "approve_paymentmethod")


@pytest.fixture
def owner_client(client: Client, owner: User) -> Client:
    client.force_login(owner)
    return client


@pytest.fixture
def viewer_client(client: Client, viewer: User) -> Client:
    client.force_login(viewer)
    return client


def admin_login(client: Client, user: User) -> None:
    """Sign `user` in to the admin as its login would: password and a verified TOTP device."""
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_totp.models import TOTPDevice

    device, _created = TOTPDevice.objects.get_or_create(user=user, name="test")
    client.force_login(user)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()


@pytest.fixture
def demo(db: None, settings: object, tmp_path: Path) -> Account:
    """The demo data of `manage.py seed_demo`; returns the demo customer's account.

    A transactional test (each browser test: its live server reads from another thread) has it
    committed, with the invoice PDFs the commit renders in a MEDIA_ROOT of the test's own. The
    emails seeding sent are cleared, so a test sees only its own.
    """
    settings.MEDIA_ROOT = tmp_path  # type: ignore[attr-defined]
    call_command("seed_demo", stdout=io.StringIO())
    mail.outbox.clear()
    return Account.objects.get(memberships__user__email="demo@example.com")


IssueFn = Callable[..., Invoice]


@pytest.fixture
def issue(db: None) -> IssueFn:
    """Issue a One-time invoice of one item through the real service."""

    def _issue(
        account: Account,
        amount: str = "100.00",
        currency: str | None = None,
        on: date = date(2026, 10, 1),
        description: str = "Setup fee",
    ) -> Invoice:
        return invoice_issue_one_time(
            account=account,
            currency=currency,
            issue_date=on,
            items=[ItemSpec(description=description, unit_price=Decimal(amount))],
        )

    return _issue


# Cards, as the sandbox gateway's card fields make them -----------------------------------------

TokenFn = Callable[..., str]


@pytest.fixture
def card_token(db: None) -> TokenFn:
    """A single-use token from the sandbox processor, as its card fields would make one."""

    def _token(number: str = "4242424242424242", cvc: str = "123") -> str:
        today = timezone.localdate()
        card, errors = tokenize(
            number=number,
            exp_month="12",
            exp_year=str(today.year + 2),
            cvc=cvc,
            holder="Wang Xiaoming",
            today=today,
        )
        assert card is not None, errors
        return card.token

    return _token


@pytest.fixture
def add_card(card_token: TokenFn) -> Callable[..., PaymentMethod]:
    """Add a card through the service and run the gateway's verification, as the worker would."""

    def _add(account: Account, user: User, number: str = "4242424242424242") -> PaymentMethod:
        method = payment_method_add(
            account=account,
            by=user,
            token=card_token(number),
            address=BillingAddress.of_account(account),
            contact_email="cards@example.com",
        )
        return payment_method_verify(payment_method_id=method.pk)

    return _add


@pytest.fixture
def pay_by_card(card_token: TokenFn) -> Callable[..., Payment]:
    """Pay once by card through the service, as the Payments page does: a new single-use
    token and a new form key unless the test gives its own."""

    def _pay(
        account: Account,
        user: User,
        amount: str,
        number: str = "4242424242424242",
        *,
        currency: str | None = None,
        token: str | None = None,
        key: str | None = None,
    ) -> Payment:
        return payment_pay_by_card(
            account=account,
            by=user,
            token=token or card_token(number),
            amount=Decimal(amount),
            currency=currency or account.currency,
            key=key or new_key(),
            address=BillingAddress.of_account(account),
        )

    return _pay


# Stripe (localstripe), for the tests of the Stripe adapter and journeys.
from tests.payments.stripe_support import (  # noqa: E402, F401
    localstripe,
    monthly_stripe,
    stripe_browser,
    stripe_gateway,
    stripe_line,
)
