"""Invoices with a VAT treatment, for the e-invoice tests: issued by the real services, then
given their treatment (the tax engineer's decision service, issue 13 item 4, is not on this
branch yet).

`with_treatment` is the one place that writes a treatment: it sets each top-level item's
category and rate (detail items take their parent's), the note and the buyer's tax ID, and
stores the totals computed the way issuing computes them (`invoices.vat`). At merge, the
builders switch to issuing through the decision service and `with_treatment` goes away.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.db import transaction

from accounts.models import Account
from invoices.models import Invoice, InvoiceDocument, InvoiceItem, VatCategory
from invoices.services import (
    ItemSpec,
    invoice_apply_payment,
    invoice_issue_credit,
    invoice_issue_one_time,
)
from invoices.tax_notes import CN_USCC, EU_VAT, OUTSIDE_SCOPE, REVERSE_CHARGE
from invoices.vat import vat_breakdown, vat_total
from tests.factories import AccountFactory

D = Decimal

# The seller of these tests: a French hosting company, VAT-registered in France.
SELLER = {
    "SELLER_NAME": "Hébergement Exemple SAS",
    "SELLER_ADDRESS": "12 rue des Serveurs\n75011 Paris\nFrance",
    "SELLER_VAT_ID": "FR40303265045",
    "SELLER_COUNTRY": "FR",
}
LEGAL_MENTIONS = "SAS au capital de 10 000 €, RCS Paris 303 265 045"
ISSUED = date(2026, 11, 20)


@dataclass(frozen=True)
class Treatment:
    category: VatCategory
    rate: Decimal = Decimal(0)


STANDARD_FR = Treatment(VatCategory.STANDARD, D("20"))


def with_treatment(
    invoice: Invoice,
    lines: list[Treatment],
    *,
    note: str = "",
    buyer_tax_id: str = "",
    buyer_tax_id_kind: str = "",
    buyer_invoice_title: str = "",
) -> Invoice:
    """Give `invoice` (just issued, nothing applied to it yet) the treatment of each of its
    top-level items, in order, and the totals that follow from it."""
    tops = list(InvoiceItem.objects.filter(invoice=invoice, parent__isnull=True))
    assert len(tops) == len(lines), "one treatment per top-level item"
    for item, treatment in zip(tops, lines, strict=True):
        InvoiceItem.objects.filter(pk=item.pk).update(
            vat_category=treatment.category, vat_rate=treatment.rate
        )
        InvoiceItem.objects.filter(parent=item).update(
            vat_category=treatment.category, vat_rate=treatment.rate
        )
    tax = vat_total(vat_breakdown(invoice), invoice.currency)
    total = invoice.subtotal + tax
    Invoice.objects.filter(pk=invoice.pk).update(
        tax=tax,
        total=total,
        balance=total if invoice.type != Invoice.Type.REFUND else D(0),
        tax_rate=max((t.rate for t in lines), default=D(0)),
        tax_point=invoice.issue_date,
        tax_note=note,
        seller_legal_mentions=LEGAL_MENTIONS,
        buyer_tax_id=buyer_tax_id,
        buyer_tax_id_kind=buyer_tax_id_kind,
        buyer_invoice_title=buyer_invoice_title,
    )
    # The documents the worker rendered when it was issued showed it without its treatment.
    InvoiceDocument.objects.filter(invoice=invoice).delete()
    return Invoice.objects.get(pk=invoice.pk)


def buyer(country: str, currency: str = "EUR", **fields: object) -> Account:
    defaults: dict[str, object] = {
        "company_name": f"Client {country}",
        "address_line1": "1 Example Street",
        "city": "Example City",
        "postal_code": "10000",
    }
    return AccountFactory(country=country, currency=currency, **(defaults | fields))  # type: ignore[no-any-return]


def _hosting(amount: str = "100.00", description: str = "Virtual Server") -> ItemSpec:
    return ItemSpec(description=description, category="Server", unit_price=D(amount))


def _server_with_details() -> ItemSpec:
    return ItemSpec(
        description="Bare Metal Server",
        category="Server",
        resource_label="db01.example.fr",
        details=(
            ItemSpec(description="CPU", quantity=D(2), unit_price=D("60.00")),
            ItemSpec(description="RAM", unit_price=D("30.25")),
        ),
    )


def domestic() -> Invoice:
    """A French business billed by the French seller: French VAT at 20%."""
    account = buyer("FR", company_name="Client Paris SARL")
    invoice = invoice_issue_one_time(
        account=account, items=[_server_with_details(), _hosting()], issue_date=ISSUED
    )
    return with_treatment(
        invoice,
        [STANDARD_FR, STANDARD_FR],
        buyer_tax_id="FR58399360817",
        buyer_tax_id_kind=EU_VAT,
    )


def reverse_charge() -> Invoice:
    """A German business with a valid VAT number: reverse charge, both VAT numbers."""
    account = buyer("DE", company_name="Kunde Berlin GmbH")
    invoice = invoice_issue_one_time(account=account, items=[_hosting("250.00")], issue_date=ISSUED)
    return with_treatment(
        invoice,
        [Treatment(VatCategory.REVERSE_CHARGE)],
        note=REVERSE_CHARGE,
        buyer_tax_id="DE136695976",
        buyer_tax_id_kind=EU_VAT,
    )


def consumer_other_country() -> Invoice:
    """A consumer in Germany, the seller in the One-Stop Shop: German VAT at 19%."""
    account = buyer("DE", company_name="Erika Mustermann")
    invoice = invoice_issue_one_time(account=account, items=[_hosting("19.99")], issue_date=ISSUED)
    return with_treatment(invoice, [Treatment(VatCategory.STANDARD, D("19"))])


def outside_eu() -> Invoice:
    """A Chinese business: outside the scope of EU VAT, with its unified social credit code
    and invoice title."""
    account = buyer("CN", currency="EUR", company_name="上海云帆科技有限公司")
    invoice = invoice_issue_one_time(
        account=account, items=[_server_with_details()], issue_date=ISSUED
    )
    return with_treatment(
        invoice,
        [Treatment(VatCategory.OUTSIDE_SCOPE)],
        note=OUTSIDE_SCOPE,
        buyer_tax_id="91310000MA1FL4XQ2K",
        buyer_tax_id_kind=CN_USCC,
        buyer_invoice_title="上海云帆科技有限公司",
    )


def two_rates() -> Invoice:
    """A French business with a service at 20% and a book at the reduced 5.5%."""
    account = buyer("FR", company_name="Librairie Lyon SARL")
    invoice = invoice_issue_one_time(
        account=account,
        items=[_hosting("99.99"), _hosting("35.45", description="Printed operations manual")],
        issue_date=ISSUED,
    )
    return with_treatment(
        invoice,
        [STANDARD_FR, Treatment(VatCategory.STANDARD, D("5.5"))],
        buyer_tax_id="FR58399360817",
        buyer_tax_id_kind=EU_VAT,
    )


def yen() -> Invoice:
    """A French business billed in Japanese yen: no decimals anywhere."""
    account = buyer("FR", currency="JPY", company_name="Client Yen SARL")
    invoice = invoice_issue_one_time(
        account=account,
        currency="JPY",
        items=[
            ItemSpec(description="GPU Server", quantity=D(3), unit_price=D("12345")),
            ItemSpec(description="Support", unit_price=D("4999")),
        ],
        issue_date=ISSUED,
    )
    return with_treatment(invoice, [STANDARD_FR, STANDARD_FR])


def partly_paid() -> Invoice:
    """The domestic invoice with 50.00 of it paid."""
    invoice = domestic()
    with transaction.atomic():
        invoice_apply_payment(invoice=invoice, amount=D("50.00"), currency=invoice.currency)
    return Invoice.objects.get(pk=invoice.pk)


def credit_note() -> Invoice:
    """A Credit against a paid domestic invoice, with the invoice's treatment."""
    original = domestic()
    with transaction.atomic():
        invoice_apply_payment(invoice=original, amount=original.balance, currency="EUR")
    credit = invoice_issue_credit(
        original=original, amount=D("40.00"), reason="SLA credit", issue_date=ISSUED
    )
    return with_treatment(
        credit,
        [STANDARD_FR],
        buyer_tax_id=original.buyer_tax_id,
        buyer_tax_id_kind=original.buyer_tax_id_kind,
    )


EINVOICES = {
    "domestic": domestic,
    "reverse_charge": reverse_charge,
    "consumer_other_country": consumer_other_country,
    "outside_eu": outside_eu,
    "two_rates": two_rates,
    "yen": yen,
    "partly_paid": partly_paid,
    "credit_note": credit_note,
}
