"""What the monthly cycle tells the customer: declined automatic charges, no usable card,
late fees. Every notice goes through the outbox, in the account's language, to the owners
and billing users and the monthly card's contact."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation

from accounts.models import Account
from accounts.outbox import email_queue
from invoices.models import Invoice

from .models import AutoCharge, Payment, PaymentMethod


def _contacts(account: Account) -> list[str]:
    """The owners and billing users, and the contact given for the monthly card."""
    emails = set(account.billing_emails())
    emails.update(
        PaymentMethod.objects.filter(account=account, is_monthly=True).values_list(
            "contact_email", flat=True
        )
    )
    return sorted(emails)


def tell(
    account: Account,
    *,
    key: str,
    template: str,
    context: dict[str, Any],
    also_to: tuple[str, ...] = (),
) -> None:
    """Queue a notice; `context` holds objects and amounts, formatted by the templates in
    the account's language."""
    site = settings.SITE_URL.rstrip("/")
    with translation.override(account.language):
        full = {
            **context,
            "account": account,
            "pay_url": site + reverse("payments:pay"),
            "cards_url": site + reverse("payments:methods"),
        }
        subject = render_to_string(f"payments/email/{template}_subject.txt", full)
        body = render_to_string(f"payments/email/{template}_body.txt", full)
    email_queue(
        key=key,
        account=account,
        to=sorted({*_contacts(account), *also_to}),
        subject=" ".join(subject.split()),
        body=body,
    )


def tell_no_card(account: Account, *, lost: PaymentMethod | None = None) -> None:
    """There is no card to charge: told once per card lost (or once if there never was
    one), however many invoices wait for it."""
    if lost is None:
        lost = PaymentMethod.objects.filter(account=account).order_by("-pk").first()
    tell(
        account,
        key=f"payments.no_usable_card.{account.pk}.{lost.pk if lost else 0}",
        template="no_usable_card",
        context={},
        also_to=(lost.contact_email,) if lost else (),
    )


def tell_declined(charge: AutoCharge, payment: Payment) -> None:
    tell(
        payment.account,
        key=f"payments.autocharge.{charge.pk}.declined.{charge.declines}",
        template="charge_declined",
        context={
            "charge": charge,
            "invoice": Invoice.objects.get(pk=charge.invoice_id),
            "payment": payment,
        },
    )


def notify_card_unusable(method: PaymentMethod) -> None:
    """The monthly card stopped being usable (expired): tell the account at once."""
    tell_no_card(method.account, lost=method)
