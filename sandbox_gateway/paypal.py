"""The sandbox's imitation of PayPal's Orders v2: orders, the approval page's decisions and
captures. Requests are idempotent by the caller's request id, as PayPal-Request-Id is."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from .models import SandboxPayPalOrder, SandboxRequest, new_order_id, new_reference


class UnknownOrder(Exception):
    pass


@dataclass(frozen=True)
class Capture:
    id: str
    status: str  # COMPLETED; the sandbox's captures complete at once


def approve_url(order: SandboxPayPalOrder) -> str:
    return reverse("sandbox_gateway:paypal_checkout") + f"?token={order.order_id}"


def create_order(
    *,
    amount: Decimal,
    currency: str,
    reference: str,
    description: str,
    return_url: str,
    cancel_url: str,
    request_id: str,
) -> SandboxPayPalOrder:
    earlier = SandboxPayPalOrder.objects.filter(request_id=request_id).first()
    if earlier is not None:
        return earlier
    try:
        with transaction.atomic():
            return SandboxPayPalOrder.objects.create(
                order_id=new_order_id(),
                request_id=request_id,
                reference=reference,
                description=description[:127],
                amount=amount,
                currency=currency,
                return_url=return_url,
                cancel_url=cancel_url,
            )
    except IntegrityError:
        return SandboxPayPalOrder.objects.get(request_id=request_id)


def _check_id(order_id: str) -> None:
    # PostgreSQL refuses a NUL in a query: such an id names no order (PayPal answers 404).
    if not order_id or len(order_id) > 64 or "\x00" in order_id:
        raise UnknownOrder(order_id)


def get_order(order_id: str) -> SandboxPayPalOrder:
    _check_id(order_id)
    order = SandboxPayPalOrder.objects.filter(order_id=order_id).first()
    if order is None:
        raise UnknownOrder(order_id)
    return order


@transaction.atomic
def decide(order_id: str, *, approve: bool) -> SandboxPayPalOrder:
    """What the customer chose on the approval page."""
    _check_id(order_id)
    order = SandboxPayPalOrder.objects.select_for_update().filter(order_id=order_id).first()
    if order is None:
        raise UnknownOrder(order_id)
    if order.status == SandboxPayPalOrder.Status.PAYER_ACTION_REQUIRED and approve:
        order.status = SandboxPayPalOrder.Status.APPROVED
        order.approved_at = timezone.now()
        order.save(update_fields=["status", "approved_at"])
    return order


@transaction.atomic
def capture(order_id: str, *, request_id: str) -> tuple[SandboxPayPalOrder, Capture | None]:
    """Capture an approved order; capturing it again answers with the same capture."""
    order = SandboxPayPalOrder.objects.select_for_update().filter(order_id=order_id).first()
    if order is None:
        raise UnknownOrder(order_id)
    if order.status == SandboxPayPalOrder.Status.COMPLETED:
        return order, Capture(order.capture_id, "COMPLETED")
    if order.status != SandboxPayPalOrder.Status.APPROVED:
        return order, None
    order.status = SandboxPayPalOrder.Status.COMPLETED
    order.capture_id = new_reference().replace("ch_", "cap_")
    order.capture_request_id = request_id
    order.save(update_fields=["status", "capture_id", "capture_request_id"])
    # Recorded as a charge, so that it can be refunded like one.
    SandboxRequest.objects.create(
        idempotency_key=f"paypal:{request_id}",
        kind="charge",
        reference=order.capture_id,
        outcome="succeeded",
        amount=order.amount,
        currency=order.currency,
    )
    return order, Capture(order.capture_id, "COMPLETED")
