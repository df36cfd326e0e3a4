"""The standard cast: an account's owner, a teammate who only views, a stranger from another
account and an account representative (staff)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING

import pytest

from accounts.models import Account, Membership, User
from invoices.models import Invoice
from invoices.services import ItemSpec, invoice_issue_one_time
from portal.celery import app as celery_app
from tests.factories import AccountFactory, MembershipFactory, UserFactory

if TYPE_CHECKING:
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
