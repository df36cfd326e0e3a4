"""The standard cast: an account's owner, a teammate who only views, a stranger from another
account and an account representative (staff); and the demo data of `manage.py seed_demo`."""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Iterator
from datetime import date
from decimal import Decimal
from importlib import import_module
from typing import TYPE_CHECKING

import pytest
from django.apps import apps as django_apps
from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType
from django.core import mail
from django.core.management import call_command
from django.db import connection
from django.test import override_settings
from django.utils import timezone, translation

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
from tests import snapshots
from tests.factories import AccountFactory, MembershipFactory, UserFactory
from tests.parallel import redis_url_of_worker, worker_number
from tests.snapshots import Snapshot

if TYPE_CHECKING:
    from pathlib import Path

    from django.test import Client


def pytest_configure(config: pytest.Config) -> None:
    """Under pytest-xdist each worker has a Redis database of its own (tests/parallel.py): a
    real Celery worker started by a test takes only its own tests' tasks."""
    from django.conf import settings

    number = worker_number()
    if not number or not settings.REDIS_URL:
        return
    own = redis_url_of_worker(settings.REDIS_URL, number)
    os.environ["REDIS_URL"] = own  # for the worker processes tests start
    settings.REDIS_URL = own
    settings.CELERY_BROKER_URL = own
    celery_app.conf.broker_url = own


@pytest.fixture(scope="session", autouse=True)
def _media_of_the_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Files the tests store (PDFs) go to a directory of this session (of this xdist worker),
    not to var/media, which another worker or an earlier run may be writing and deleting."""
    with override_settings(MEDIA_ROOT=tmp_path_factory.mktemp("media")):
        yield


@pytest.fixture(autouse=True)
def _plain_static_files(settings: object) -> None:
    # The manifest needs collectstatic; tests serve static files from the source tree.
    settings.STORAGES = {  # type: ignore[attr-defined]
        **settings.STORAGES,  # type: ignore[attr-defined]
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


@pytest.fixture(autouse=True)
def _default_language() -> object:
    """Each test starts in the default language. A request through the test client leaves
    its language (LocaleMiddleware's `activate`) active in the thread, and the next test
    in the same worker would read every message in it."""
    translation.deactivate()
    yield
    translation.deactivate()


# The tables a data migration fills (today only invoices 0006's tax rates).
_DATA_MIGRATIONS = ("invoices.migrations.0006_load_tax_rates",)
_DB_FIXTURES = frozenset({"db", "transactional_db", "live_server", "django_db_reset_sequences"})


@pytest.fixture(autouse=True)
def _migrated_data(request: pytest.FixtureRequest) -> None:
    """Every test's database holds what the data migrations load, as a migrated production
    database does: a transactional test ends by emptying every table (Django's flush), and
    the next test on the same worker would otherwise find no tax rates."""
    if request.node.get_closest_marker("django_db") is None and not (
        _DB_FIXTURES & set(request.fixturenames)
    ):
        return
    request.getfixturevalue("_django_db_helper")
    from invoices.models import TaxRate

    if not TaxRate.objects.exists():
        for name in _DATA_MIGRATIONS:
            import_module(name).load(django_apps, None)


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


# What `seed_demo` reads besides the database; a test that changed any of these before asking
# for `demo` gets the demo seeded afresh. ALLOWED_HOSTS is the live server's, MEDIA_ROOT the
# test's own (set below).
_SEED_IGNORES = frozenset({"ALLOWED_HOSTS", "MEDIA_ROOT"})
# Seeding stamps rows with the time (a card added three hours ago): a snapshot this old is
# seeded again rather than given out, so that its times stay within minutes of a fresh seed.
DEMO_SNAPSHOT_MAX_AGE = 600.0


def _seed_conditions(in_transaction: bool) -> str:
    """Everything a seeding depends on but the database: the settings, the day, whether
    tasks run in-process and whether the seeding commits (and so renders the PDFs)."""
    from django.conf import settings

    values = sorted(
        (name, getattr(settings, name))
        for name in dir(settings)
        if name.isupper() and name not in _SEED_IGNORES
    )
    return repr((in_transaction, timezone.localdate(), celery_app.conf.task_always_eager, values))


@pytest.fixture(scope="session")
def _demo_snapshots() -> dict[str, Snapshot]:
    """The demo data as seeded once in this session (per xdist worker), by seeding
    conditions."""
    return {}


@pytest.fixture
def demo(
    db: None,
    settings: object,
    tmp_path: Path,
    request: pytest.FixtureRequest,
    _demo_snapshots: dict[str, Snapshot],
) -> Account:
    """The demo data of `manage.py seed_demo`; returns the demo customer's account.

    A transactional test (each browser test: its live server reads from another thread) has it
    committed, with the invoice PDFs the commit renders in a MEDIA_ROOT of the test's own. The
    emails seeding sent are cleared, so a test sees only its own.

    Seeding takes seconds (the PDFs most), so the first test of a session seeds and the
    database it leaves is kept (tests/snapshots.py); a later test with the same seeding
    conditions and an otherwise empty database gets a copy of those rows and PDFs instead,
    the same data in a tenth of a second. Anything else (a test that wrote rows or changed
    settings first, another day, a snapshot older than ten minutes) seeds afresh. A test that
    monkeypatches what seeding calls should ask for `demo` first.
    """
    settings.MEDIA_ROOT = tmp_path  # type: ignore[attr-defined]
    conditions = _seed_conditions(connection.in_atomic_block)
    counts = snapshots.row_counts()
    snapshot = _demo_snapshots.get(conditions)
    if (
        snapshot is not None
        and snapshot.age() < DEMO_SNAPSHOT_MAX_AGE
        and snapshots.fits(snapshot, counts)
    ):
        snapshots.restore(snapshot, media_root=tmp_path)
        # After the test the content types are the ones before the copy again.
        request.addfinalizer(ContentType.objects.clear_cache)
    else:
        media_before = snapshots.media_files(tmp_path)
        call_command("seed_demo", stdout=io.StringIO())
        if snapshots.is_pristine(counts):
            _demo_snapshots[conditions] = snapshots.take(
                before=counts, media_root=tmp_path, media_before=media_before
            )
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
        invoices: list[int] | None = None,
    ) -> Payment:
        return payment_pay_by_card(
            account=account,
            by=user,
            token=token or card_token(number),
            amount=Decimal(amount),
            currency=currency or account.currency,
            key=key or new_key(),
            address=BillingAddress.of_account(account),
            invoices=invoices,
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
