"""The sandbox processor: answers like a real test-mode card processor would.

The portal reaches it only through `payments.gateways.sandbox`, as it would reach a real
processor over the network; requests are idempotent by the caller's key.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.debug import sensitive_variables

from . import latency
from .cards import (
    TEST_CARDS,
    Scenario,
    brand_of,
    cvc_valid,
    digits_only,
    expiry_valid,
    luhn_valid,
)
from .models import SandboxCard, SandboxRequest, new_credential, new_reference, new_token


class ProcessorTimeout(Exception):
    """The processor's answer never arrived (whether it acted depends on the card)."""


class UnknownToken(Exception):
    """The token does not exist or has been used."""


def _answers_after_latency[**P, R](call: Callable[P, R]) -> Callable[P, R]:
    """A call the portal's server makes to the processor: it acts at once (the request is
    recorded when it arrives), and its answer, or its time-out, comes back after a time
    drawn from SANDBOX_LATENCY (none unless set)."""

    @functools.wraps(call)
    def answered_late(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return call(*args, **kwargs)
        finally:
            latency.wait(settings.SANDBOX_LATENCY)

    return answered_late


@dataclass(frozen=True)
class Answer:
    outcome: str
    reference: str
    decline: str = ""
    message: str = ""
    credential: str = ""


DECLINES = {
    Scenario.DECLINE_GENERIC: ("generic", "Your card was declined."),
    Scenario.DECLINE_INSUFFICIENT_FUNDS: (
        "insufficient_funds",
        "Your card has insufficient funds.",
    ),
    Scenario.DECLINE_EXPIRED: ("expired_card", "Your card has expired."),
    Scenario.DECLINE_INCORRECT_CVC: ("incorrect_cvc", "Your card's security code is incorrect."),
    Scenario.NOT_A_TEST_CARD: (
        "generic",
        "Your card was declined: the sandbox accepts only its test cards.",
    ),
}


@sensitive_variables()
def tokenize(
    *, number: str, exp_month: str, exp_year: str, cvc: str, holder: str, today: date
) -> tuple[SandboxCard | None, dict[str, str]]:
    """Check the card fields and turn them into a single-use token; the number is not kept."""
    errors: dict[str, str] = {}
    digits = digits_only(number)
    brand = brand_of(digits)
    if not holder.strip() or any(unicodedata.category(char) == "Cc" for char in holder):
        errors["holder"] = _("Enter the name on the card.")
    if not luhn_valid(digits):
        errors["number"] = _("The card number is invalid.")
    month, year = 0, 0
    if re.fullmatch(r"[0-9]{1,2}", exp_month) and re.fullmatch(r"[0-9]{2}|[0-9]{4}", exp_year):
        month, year = int(exp_month), int(exp_year)
        if year < 100:
            year += 2000
    if not expiry_valid(month, year, today):
        errors["expiry"] = _("The expiry date is invalid or in the past.")
    if not cvc_valid(cvc.strip(), brand):
        errors["cvc"] = (
            _("Enter the 4-digit security code.")
            if brand == "amex"
            else _("Enter the 3-digit security code.")
        )
    if errors:
        return None, errors
    card = SandboxCard.objects.create(
        token=new_token(),
        scenario=TEST_CARDS.get(digits, Scenario.NOT_A_TEST_CARD),
        brand=brand,
        last4=digits[-4:],
        exp_month=month,
        exp_year=year,
        holder=holder.strip()[:100],
        fingerprint=fingerprint_of(digits),
    )
    return card, {}


@sensitive_variables()
def fingerprint_of(digits: str) -> str:
    """A card's fingerprint, as processors give one: the same for the same number, and no
    way back to the number (keyed with the portal's secret)."""
    key = f"sandbox-card-fingerprint:{settings.SECRET_KEY}".encode()
    return hmac.new(key, digits.encode(), hashlib.sha256).hexdigest()[:32]


def describe_token(token: str) -> SandboxCard:
    card = SandboxCard.objects.filter(token=token, token_used_at__isnull=True).first()
    if card is None:
        raise UnknownToken(token)
    return card


def _record(
    key: str, kind: str, answer: Answer, card: SandboxCard | None, **money: object
) -> Answer:
    try:
        with transaction.atomic():
            SandboxRequest.objects.create(
                idempotency_key=key,
                kind=kind,
                reference=answer.reference,
                outcome=answer.outcome,
                decline=answer.decline,
                message=answer.message,
                card=card,
                **money,
            )
    except IntegrityError:
        # The same request again: answer what was answered the first time.
        earlier = _lookup(key)
        assert earlier is not None
        return earlier
    return answer


def _lookup(key: str) -> Answer | None:
    return _answer(
        SandboxRequest.objects.filter(idempotency_key=key).select_related("card").first()
    )


@_answers_after_latency
def lookup(key: str) -> Answer | None:
    """What the processor answered the request of `key`, if it ever received it."""
    return _lookup(key)


@_answers_after_latency
def lookup_reference(reference: str) -> Answer | None:
    return _answer(
        SandboxRequest.objects.filter(reference=reference).select_related("card").first()
    )


def _answer(request: SandboxRequest | None) -> Answer | None:
    if request is None:
        return None
    return Answer(
        outcome=request.outcome,
        reference=request.reference,
        decline=request.decline,
        message=request.message,
        credential=(request.card.credential or "") if request.card else "",
    )


@_answers_after_latency
@transaction.atomic
def verify(*, token: str, key: str) -> Answer:
    """A zero-amount authorisation: the token becomes a reusable credential if it passes."""
    earlier = _lookup(key)
    if earlier is not None:
        return earlier
    card = SandboxCard.objects.select_for_update().filter(token=token).first()
    if card is None or card.token_used_at is not None:
        return _record(
            key, "verify", Answer("failed", new_reference(), "", "Unknown or used token."), None
        )
    scenario = Scenario(card.scenario)
    if scenario == Scenario.PROCESSING_ERROR:
        # Nothing happened and nothing is kept: the caller may try again with the same key.
        return Answer("failed", new_reference(), "processing_error", "A processing error occurred.")
    card.token_used_at = timezone.now()
    if scenario in DECLINES:
        card.save(update_fields=["token_used_at"])
        decline, message = DECLINES[scenario]
        return _record(key, "verify", Answer("declined", new_reference(), decline, message), card)
    card.credential = new_credential()
    card.save(update_fields=["token_used_at", "credential"])
    return _record(
        key, "verify", Answer("succeeded", new_reference(), credential=card.credential), card
    )


@_answers_after_latency
def charge(
    *, amount: Decimal, currency: str, key: str, credential: str = "", token: str = ""
) -> Answer:
    """Charge a card on file (its credential) or, once, a single-use token."""
    received_at = timezone.now()
    earlier = _lookup(key)
    if earlier is not None:
        return earlier
    if token:
        with transaction.atomic():
            card = (
                SandboxCard.objects.select_for_update()
                .filter(token=token, token_used_at__isnull=True)
                .first()
            )
            if card is not None:
                card.token_used_at = timezone.now()
                card.save(update_fields=["token_used_at"])
    else:
        card = SandboxCard.objects.filter(credential=credential).first()
    if card is None:
        return _record(key, "charge", Answer("failed", new_reference(), "", "Unknown card."), None)
    scenario = Scenario(card.scenario)
    money = {"amount": amount, "currency": currency, "received_at": received_at}
    if scenario == Scenario.TIMEOUT_NOT_CHARGED:
        raise ProcessorTimeout(key)
    if scenario == Scenario.PROCESSING_ERROR:
        return Answer("failed", new_reference(), "processing_error", "A processing error occurred.")
    if scenario == Scenario.CHARGES_DECLINED:
        return _record(
            key,
            "charge",
            Answer("declined", new_reference(), "generic", "Your card was declined."),
            card,
            **money,
        )
    if scenario in DECLINES:
        decline, message = DECLINES[scenario]
        return _record(
            key, "charge", Answer("declined", new_reference(), decline, message), card, **money
        )
    answer = _record(key, "charge", Answer("succeeded", new_reference()), card, **money)
    if scenario == Scenario.TIMEOUT_CHARGED:
        raise ProcessorTimeout(key)
    return answer


@_answers_after_latency
def refund(*, charge_reference: str, amount: Decimal, currency: str, key: str) -> Answer:
    earlier = _lookup(key)
    if earlier is not None:
        return earlier
    original = SandboxRequest.objects.filter(
        reference=charge_reference, kind="charge", outcome="succeeded"
    ).first()
    if original is None:
        return _record(
            key, "refund", Answer("failed", new_reference(), "", "Unknown charge."), None
        )
    refunded = sum(
        (
            request.amount or Decimal(0)
            for request in SandboxRequest.objects.filter(
                kind="refund", outcome="succeeded", refund_of=original
            )
        ),
        Decimal(0),
    )
    if original.amount is not None and refunded + amount > original.amount:
        return _record(
            key,
            "refund",
            Answer("failed", new_reference(), "", "The refund exceeds what was charged."),
            None,
        )
    return _record(
        key,
        "refund",
        Answer("succeeded", new_reference()),
        original.card,
        amount=amount,
        currency=currency,
        refund_of=original,
    )
