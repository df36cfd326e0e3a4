"""The VAT treatment of an invoice as its page, PDF and emails print it, in the reader's
language at the moment the template renders (an email renders in the account's)."""

from __future__ import annotations

from decimal import Decimal

from django import template

from invoices.models import Invoice
from invoices.tax_notes import seller_tax_id_label, tax_id_label, tax_note_text
from invoices.vat import VatGroup, vat_breakdown

register = template.Library()


@register.filter
def tax_note(key: str) -> str:
    """{{ invoice.tax_note|tax_note }}: the legal note of the invoice's VAT treatment."""
    return tax_note_text(key)


@register.filter
def buyer_tax_id_label(invoice: Invoice) -> str:
    return tax_id_label(invoice.buyer_tax_id_kind)


@register.filter
def seller_tax_label(invoice: Invoice) -> str:
    return seller_tax_id_label(invoice.seller_country, invoice.seller_tax_id)


@register.filter
def vat_rate(rate: Decimal) -> str:
    """A rate as printed: 20, 5.5, 0 (no trailing zeros)."""
    return format(rate.normalize() + 0, "f")


@register.simple_tag(takes_context=True)
def invoice_vat_breakdown(context: template.Context, invoice: Invoice) -> list[VatGroup]:
    """{% invoice_vat_breakdown invoice as groups %}: the breakdown of `invoice` the caller
    computed already (`vat_groups_by_invoice` in the context: issuing has the items at
    hand), else from one query."""
    given = (context.get("vat_groups_by_invoice") or {}).get(invoice.pk)
    return given if given is not None else vat_breakdown(invoice)
