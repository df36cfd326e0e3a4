"""What the sandbox processor keeps: never a card number or security code, only what it needs
to answer later calls for its test cards (the behaviour of the card, its brand and last four)."""

from __future__ import annotations

import secrets

from django.db import models

from .cards import Scenario


def _id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_urlsafe(18)}"


class SandboxCard(models.Model):
    """A card as the processor knows it: first as a single-use token, then as a credential."""

    token = models.CharField(max_length=64, unique=True)
    credential = models.CharField(max_length=64, unique=True, null=True, blank=True)
    scenario = models.CharField(max_length=32, choices=[(s.value, s.value) for s in Scenario])
    brand = models.CharField(max_length=20)
    last4 = models.CharField(max_length=4)
    exp_month = models.PositiveSmallIntegerField()
    exp_year = models.PositiveSmallIntegerField()
    holder = models.CharField(max_length=100)
    # The same number gives the same fingerprint (a keyed hash: the number is not kept).
    fingerprint = models.CharField(max_length=32, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    token_used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.brand} {self.last4}"


class SandboxRequest(models.Model):
    """Every request the processor carried out, by the caller's idempotency key."""

    idempotency_key = models.CharField(max_length=200, unique=True)
    kind = models.CharField(max_length=20)
    reference = models.CharField(max_length=64, unique=True)
    outcome = models.CharField(max_length=20)
    decline = models.CharField(max_length=32, blank=True)
    message = models.CharField(max_length=255, blank=True)
    amount = models.DecimalField(max_digits=18, decimal_places=3, null=True)
    currency = models.CharField(max_length=3, blank=True)
    card = models.ForeignKey(SandboxCard, on_delete=models.PROTECT, null=True)
    refund_of = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, related_name="refunds"
    )
    # When the request reached the processor (what a processor's rate limit counts), before
    # it did anything; `created_at` is when its answer was recorded.
    received_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.kind} {self.reference} {self.outcome}"


def new_token() -> str:
    return _id("tok")


def new_credential() -> str:
    return _id("card")


def new_reference() -> str:
    return _id("ch")


class SandboxPayPalOrder(models.Model):
    """An order in the sandbox's imitation of PayPal: created by the portal, approved or
    cancelled by the customer on the sandbox's approval page, then captured."""

    class Status(models.TextChoices):
        # PayPal's order statuses (Orders v2), as far as the sandbox plays them.
        PAYER_ACTION_REQUIRED = "PAYER_ACTION_REQUIRED", "PAYER_ACTION_REQUIRED"
        APPROVED = "APPROVED", "APPROVED"
        COMPLETED = "COMPLETED", "COMPLETED"

    order_id = models.CharField(max_length=64, unique=True)
    request_id = models.CharField(max_length=200, unique=True)
    reference = models.CharField(max_length=128)
    description = models.CharField(max_length=127, blank=True)
    amount = models.DecimalField(max_digits=18, decimal_places=3)
    currency = models.CharField(max_length=3)
    return_url = models.URLField(max_length=500)
    cancel_url = models.URLField(max_length=500)
    status = models.CharField(
        max_length=24, choices=Status.choices, default=Status.PAYER_ACTION_REQUIRED
    )
    capture_id = models.CharField(max_length=64, blank=True)
    capture_request_id = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    approved_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.order_id} {self.status}"


def new_order_id() -> str:
    return "PP" + secrets.token_hex(8).upper()
