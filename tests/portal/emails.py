"""Every email of the portal, sent by the code that really sends it, for the tests of the
emails themselves (tests/portal/test_emails.py, tests/browser/test_emails.py)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core import mail
from django.core.mail import EmailMessage
from django.test import Client
from django.urls import reverse

from accounts.models import Account, Membership, OutboundEmail, User
from accounts.outbox import email_send
from accounts.team import team_invite
from billing.models import AutoCharge
from billing.notices import notice_needs_confirmation
from invoices.models import Invoice, RecurringCharge
from payments.card_checks import BillingAddress
from payments.cards import (
    payment_method_add,
    payment_method_approve,
    payment_method_verify,
    payment_methods_check_promise,
    payment_methods_expire,
)
from payments.models import Payment, PaymentMethod
from tests.billing.clock import at, run
from tests.factories import MembershipFactory, UserFactory

LANGUAGES = ["en", "zh-hans"]
# The security code typed with every card here: to be found in no email.
CVC = "987"
COMPANY = '上海云帆 <img src=x onerror="alert(1)"> & Co'


@dataclass
class World:
    account: Account
    owner: User
    approver: User
    client: Client
    language: str
    card_token: Callable[..., str]
    issue: Callable[..., Invoice]
    pay_by_card: Callable[..., Payment]

    def add_card(self, number: str = "4242424242424242") -> PaymentMethod:
        method = payment_method_add(
            account=self.account,
            by=self.owner,
            token=self.card_token(number, cvc=CVC),
            address=BillingAddress.of_account(self.account),
            contact_email="cards@example.com",
        )
        return payment_method_verify(payment_method_id=method.pk)

    def monthly_card(self, number: str = "4242424242424242") -> PaymentMethod:
        return payment_method_approve(payment_method=self.add_card(number), by=self.approver)

    def hosting(self) -> RecurringCharge:
        return RecurringCharge.objects.create(
            account=self.account,
            description="Virtual Server",
            category="Server",
            quantity=Decimal(1),
            unit_price=Decimal("100.00"),
            starts_on=date(2026, 10, 1),
        )

    def declined_charge(self) -> AutoCharge:
        """The October invoice, its automatic charge declined once."""
        self.hosting()
        self.monthly_card("4000000000000341")
        run(date(2026, 10, 1))
        return AutoCharge.objects.get(invoice__account=self.account)


def sent(key: str) -> EmailMessage:
    """The queued email `key`, sent as the worker sends it (attachments made then)."""
    queued = OutboundEmail.objects.get(key=key)
    mail.outbox.clear()
    assert email_send(email_id=queued.pk) is True
    [message] = mail.outbox
    return message


def last_sent(key_prefix: str) -> EmailMessage:
    """The latest queued email whose key starts with `key_prefix`, sent."""
    key = (
        OutboundEmail.objects.filter(key__startswith=key_prefix)
        .order_by("pk")
        .values_list("key", flat=True)
        .last()
    )
    assert key is not None, f"no email {key_prefix}..."
    return sent(key)


def _invitation(world: World) -> EmailMessage:
    invited = team_invite(
        account=world.account, by=world.owner, email="new@example.com", role="billing"
    )
    return sent(f"accounts.invitation.{invited.invitation.pk}")


def _team_changed(world: World) -> EmailMessage:
    invited = team_invite(
        account=world.account, by=world.owner, email="new@example.com", role="billing"
    )
    return sent(f"accounts.team.invited.{invited.invitation.pk}")


def _invoice_issued(world: World) -> EmailMessage:
    invoice = world.issue(world.account, "120.00")
    return sent(f"invoices.invoice.issued:{invoice.pk}")


def _receipt(world: World) -> EmailMessage:
    world.issue(world.account, "120.00")
    payment = world.pay_by_card(
        world.account, world.owner, "80.00", token=world.card_token(cvc=CVC)
    )
    assert payment.state == Payment.State.SUCCEEDED
    return sent(f"payments.payment.receipt:{payment.pk}")


def _card_status(world: World) -> EmailMessage:
    method = world.monthly_card()
    return sent(f"payments.payment_method.{method.pk}.{PaymentMethod.State.VERIFIED}")


def _card_overdue(world: World) -> EmailMessage:
    method = world.add_card()
    payment_methods_check_promise(now=method.created_at + timedelta(hours=21))
    return sent(f"payments.payment_method.{method.pk}.escalated")


def _card_expiring(world: World) -> EmailMessage:
    method = world.monthly_card()
    payment_methods_expire(today=date(method.exp_year, method.exp_month, 5))
    return sent(f"payments.payment_method.{method.pk}.expiring")


def _charge_declined(world: World) -> EmailMessage:
    charge = world.declined_charge()
    return sent(f"payments.autocharge.{charge.pk}.declined.1")


def _charge_needs_confirmation(world: World, *, reminder: bool = False) -> EmailMessage:
    charge = world.declined_charge()
    charge.confirm_until = at(date(2026, 10, 3))
    payment = charge.payments.order_by("pk").last()
    notice_needs_confirmation(charge=charge, payment=payment, reminder=reminder)
    kind = "reminder" if reminder else "confirm"
    return sent(f"billing.autocharge.{charge.pk}.{kind}.{charge.attempts}")


def _charge_confirmation_reminder(world: World) -> EmailMessage:
    return _charge_needs_confirmation(world, reminder=True)


def _late_fee(world: World) -> EmailMessage:
    world.declined_charge()
    run(date(2026, 11, 15))
    return last_sent("payments.late_fee.")


def _no_usable_card(world: World) -> EmailMessage:
    world.hosting()
    run(date(2026, 10, 1))
    return sent(f"payments.no_usable_card.{world.account.pk}.0")


def _password_reset(world: World) -> EmailMessage:
    # Asked for signed out: in the language the person asking chose (their browser's).
    world.client.cookies[settings.LANGUAGE_COOKIE_NAME] = world.language
    mail.outbox.clear()
    world.client.post(reverse("password_reset"), {"email": world.owner.email})
    [message] = mail.outbox
    return message


# Every email template of the portal (its `<name>_subject.txt`), and how it is sent.
EMAILS: dict[str, Callable[[World], EmailMessage]] = {
    "accounts/email/invitation": _invitation,
    "accounts/email/team_changed": _team_changed,
    "invoices/email/invoice_issued": _invoice_issued,
    "payments/email/receipt": _receipt,
    "payments/email/card_status": _card_status,
    "payments/email/card_overdue": _card_overdue,
    "payments/email/card_expiring": _card_expiring,
    "billing/email/charge_declined": _charge_declined,
    "billing/email/charge_needs_confirmation": _charge_needs_confirmation,
    "billing/email/charge_confirmation_reminder": _charge_confirmation_reminder,
    "billing/email/late_fee": _late_fee,
    "billing/email/no_usable_card": _no_usable_card,
    "registration/password_reset": _password_reset,
}


def make_world(language: str, *, settings: Any, tmp_path: Path, **cast: Any) -> World:
    """The standard cast (tests/conftest.py's fixtures in `cast`) with the account, and
    staff, reading `language`, and a billing user besides the owner. The company's name is
    one that would run a script if any email took it for markup."""
    settings.MEDIA_ROOT = tmp_path
    # Staff read the portal's default language (the escalation of a card).
    settings.LANGUAGE_CODE = language
    account = cast["account"]
    account.language = language
    account.company_name = COMPANY
    account.save(update_fields=["language", "company_name"])
    MembershipFactory(
        user=UserFactory(email="billing@example.com", password=None),
        account=account,
        role=Membership.Role.BILLING,
    )
    return World(language=language, **cast)
