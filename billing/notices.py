"""What the monthly cycle tells the customer: declined automatic charges, no usable card,
late fees. Every notice goes through the outbox, in the account's language, to the owners
and billing users and the monthly card's contact."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.urls import reverse

from accounts.models import Account
from accounts.outbox import email_queue, render_email
from payments.models import Payment, PaymentMethod

from .models import AutoCharge


def _contacts(account: Account) -> list[str]:
    """The owners and billing users, and the contact given for the monthly card."""
    emails = set(account.billing_emails())
    emails.update(
        PaymentMethod.objects.filter(account=account, is_monthly=True).values_list(
            "contact_email", flat=True
        )
    )
    return sorted(emails)


def notice_send(
    *,
    account: Account,
    key: str,
    template: str,
    context: dict[str, Any],
    also_to: tuple[str, ...] = (),
) -> None:
    """Queue the notice `billing/email/<template>`; `context` holds objects and amounts,
    formatted by the templates in the account's language."""
    site = settings.SITE_URL.rstrip("/")
    full = {
        **context,
        "account": account,
        "pay_url": site + reverse("payments:pay"),
        "cards_url": site + reverse("payments:methods"),
    }
    email_queue(
        key=key,
        account=account,
        to=sorted({*_contacts(account), *also_to}),
        email=render_email(f"billing/email/{template}", full, language=account.language),
    )


def notice_no_card(*, account: Account, lost: PaymentMethod | None = None) -> None:
    """There is no card to charge: told once per card lost (or once if there never was
    one), however many invoices wait for it."""
    if lost is None:
        lost = PaymentMethod.objects.filter(account=account).order_by("-pk").first()
    notice_send(
        account=account,
        key=f"payments.no_usable_card.{account.pk}.{lost.pk if lost else 0}",
        template="no_usable_card",
        context={},
        also_to=(lost.contact_email,) if lost else (),
    )


def notice_declined(*, charge: AutoCharge, payment: Payment) -> None:
    """An automatic charge was declined: why, when the card is tried next, how to pay."""
    notice_send(
        account=payment.account,
        # The keys predate the billing app; kept so that no notice is ever sent twice.
        key=f"payments.autocharge.{charge.pk}.declined.{charge.declines}",
        template="charge_declined",
        context={"charge": charge, "invoice": charge.invoice, "payment": payment},
    )


def notice_needs_confirmation(
    *, charge: AutoCharge, payment: Payment, reminder: bool = False
) -> None:
    """The bank asked the customer to confirm an automatic charge: a link to the page where
    they confirm it, and until when (sent again once, as a reminder, before that)."""
    notice_send(
        account=payment.account,
        key=(
            f"billing.autocharge.{charge.pk}.{'reminder' if reminder else 'confirm'}"
            f".{charge.attempts}"
        ),
        template="charge_confirmation_reminder" if reminder else "charge_needs_confirmation",
        context={
            "charge": charge,
            "invoice": charge.invoice,
            "payment": payment,
            "confirm_url": settings.SITE_URL.rstrip("/")
            + reverse("payments:confirm", args=[payment.pk]),
        },
    )
