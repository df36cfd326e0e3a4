"""Every invoice of the demo (`manage.py seed_demo`) is a valid EN 16931 e-invoice."""

from __future__ import annotations

import pytest

from accounts.models import Account
from invoices.einvoice import invoice_cii_xml
from invoices.einvoice_check import einvoice_problems
from invoices.models import Invoice

pytestmark = pytest.mark.django_db


@pytest.fixture
def _demo_seller_tax_id(settings) -> None:
    # The demo's seller is a US company; an e-invoice needs an identifier of the seller
    # (BR-CO-26), so the demo runs with one here: its federal tax ID.
    settings.SELLER_VAT_ID = "12-3456789"


def test_every_demo_invoice_is_a_valid_einvoice(_demo_seller_tax_id: None, demo: Account) -> None:
    """The demo's seller bills a Chinese customer: outside the scope of EU VAT in USD,
    China's 6% in CNY, Credits and Refunds as credit notes."""
    invoices = list(Invoice.objects.filter(account=demo).order_by("pk"))
    assert {invoice.type for invoice in invoices} == set(Invoice.Type.values)
    for invoice in invoices:
        for language in ("en", "zh-hans"):
            assert einvoice_problems(invoice_cii_xml(invoice, language)) == [], invoice.number
