"""Invoices with a VAT treatment, for the e-invoice tests, issued by the real services: the
seller is configured with settings (`SELLER`, applied by each test module's fixture), the
buyer account has its country and tax ID, and the treatment is the decision of
`invoices.tax.tax_decide` on the data migration's rates (`TaxRate`, loaded in every test
database by tests/conftest.py).

One exception, `two_rates`: the rules give every line of an invoice the same category and
rate (a hosting company's supplies are all electronically supplied services), so no real
path issues an invoice with two rates. EN 16931 must still be proven for one (issue 13 item
7), so that single builder overrides one line's rate after issuing (`_test_only_second_rate`).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from django.db import transaction

from accounts.models import Account, TaxIdKind, TaxIdStatus
from invoices.models import Invoice, InvoiceDocument, InvoiceItem, VatCategory
from invoices.services import (
    ItemSpec,
    invoice_apply_payment,
    invoice_issue_credit,
    invoice_issue_one_time,
)
from invoices.tax import vat_breakdown
from tests.factories import AccountFactory

D = Decimal

# The seller of these tests: a French hosting company, VAT-registered in France, declaring
# its sales to consumers elsewhere in the EU through the One-Stop Shop.
SELLER = {
    "SELLER_NAME": "Hébergement Exemple SAS",
    "SELLER_ADDRESS": "12 rue des Serveurs\n75011 Paris\nFrance",
    "SELLER_VAT_ID": "FR40303265045",
    "SELLER_COUNTRY": "FR",
    "SELLER_USES_OSS": True,
    "SELLER_EU_DISTANCE_SALES_ABOVE_THRESHOLD": False,
    "SELLER_LEGAL_MENTIONS": "SAS au capital de 10 000 €, RCS Paris 303 265 045",
}
ISSUED = date(2026, 11, 20)


def _vies_confirmed(country: str, number: str) -> dict[str, object]:
    """The account fields of an EU VAT number VIES confirmed (its answer kept as evidence,
    as accounts.tax_ids keeps it)."""
    return {
        "tax_id_kind": TaxIdKind.EU_VAT,
        "tax_id": number,
        "tax_id_status": TaxIdStatus.VALID,
        "tax_id_checked_at": datetime(2026, 11, 2, 9, 30, tzinfo=UTC),
        "tax_id_evidence": {
            "countryCode": country,
            "vatNumber": number[2:],
            "requestDate": "2026-11-02T09:30:00.000Z",
            "valid": True,
            "requestIdentifier": f"WAPIAAAAW{number[2:]}",
        },
    }


def buyer(country: str, currency: str = "EUR", **fields: object) -> Account:
    defaults: dict[str, object] = {
        "company_name": f"Client {country}",
        "address_line1": "1 Example Street",
        "city": "Example City",
        "postal_code": "10000",
    }
    return AccountFactory(country=country, currency=currency, **(defaults | fields))  # type: ignore[no-any-return]


def _french_business(company_name: str, currency: str = "EUR") -> Account:
    return buyer(
        "FR", currency, company_name=company_name, **_vies_confirmed("FR", "FR58399360817")
    )


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


def _issue(account: Account, items: list[ItemSpec], currency: str | None = None) -> Invoice:
    return invoice_issue_one_time(
        account=account, items=items, currency=currency, issue_date=ISSUED
    )


def domestic() -> Invoice:
    """A French business billed by the French seller: French VAT at 20% (S)."""
    account = _french_business("Client Paris SARL")
    return _issue(account, [_server_with_details(), _hosting()])


def reverse_charge() -> Invoice:
    """A German business with a VIES-confirmed VAT number: reverse charge, both numbers."""
    account = buyer("DE", company_name="Kunde Berlin GmbH", **_vies_confirmed("DE", "DE136695976"))
    return _issue(account, [_hosting("250.00")])


def consumer_other_country() -> Invoice:
    """A consumer in Germany, the seller in the One-Stop Shop: German VAT at 19%."""
    account = buyer("DE", company_name="Erika Mustermann")
    return _issue(account, [_hosting("19.99")])


def outside_eu() -> Invoice:
    """A Chinese business: outside the scope of EU VAT, with its unified social credit code
    and invoice title."""
    account = buyer(
        "CN",
        currency="EUR",
        company_name="上海云帆科技有限公司",
        tax_id_kind=TaxIdKind.CN_USCC,
        tax_id="91310000MA1FL4XQ2K",
        tax_id_status=TaxIdStatus.VALID,
        invoice_title="上海云帆科技有限公司",
    )
    return _issue(account, [_server_with_details()])


def _test_only_second_rate(invoice: Invoice, *, position: int, rate: Decimal) -> Invoice:
    """TEST-ONLY: give the top-level item at `position` its own standard `rate` and restate
    the totals with the issuing arithmetic (`invoices.tax.vat_breakdown`). The portal has no
    way to issue two rates on one invoice (see the module docstring); this is the one place
    the e-invoice tests write a treatment by hand, for the two-rates case of issue 13 only."""
    item = InvoiceItem.objects.get(invoice=invoice, parent__isnull=True, position=position)
    InvoiceItem.objects.filter(pk=item.pk).update(vat_category=VatCategory.STANDARD, vat_rate=rate)
    InvoiceItem.objects.filter(parent=item).update(vat_category=VatCategory.STANDARD, vat_rate=rate)
    tops = InvoiceItem.objects.filter(invoice=invoice, parent__isnull=True)
    breakdown = vat_breakdown(
        lines=[(t.vat_category, t.vat_rate, t.amount) for t in tops], currency=invoice.currency
    )
    Invoice.objects.filter(pk=invoice.pk).update(
        tax=breakdown.tax, total=breakdown.total, balance=breakdown.total
    )
    # The documents the worker rendered at issue showed the single rate.
    InvoiceDocument.objects.filter(invoice=invoice).delete()
    return Invoice.objects.get(pk=invoice.pk)


def two_rates() -> Invoice:
    """A French business with a service at 20% and a book at the reduced 5.5%."""
    account = _french_business("Librairie Lyon SARL")
    invoice = _issue(
        account,
        [_hosting("99.99"), _hosting("35.45", description="Printed operations manual")],
    )
    assert invoice.tax_rate == D(20), "the real decision gives the service 20%"
    return _test_only_second_rate(invoice, position=2, rate=D("5.5"))


def yen() -> Invoice:
    """A French business billed in Japanese yen: no decimals anywhere."""
    account = _french_business("Client Yen SARL", currency="JPY")
    return _issue(
        account,
        [
            ItemSpec(description="GPU Server", quantity=D(3), unit_price=D("12345")),
            ItemSpec(description="Support", unit_price=D("4999")),
        ],
        currency="JPY",
    )


def partly_paid() -> Invoice:
    """The domestic invoice with 50.00 of it paid."""
    invoice = domestic()
    with transaction.atomic():
        invoice_apply_payment(invoice=invoice, amount=D("50.00"), currency=invoice.currency)
    return Invoice.objects.get(pk=invoice.pk)


def credit_note() -> Invoice:
    """A Credit against a paid domestic invoice: it keeps the invoice's treatment."""
    original = domestic()
    with transaction.atomic():
        invoice_apply_payment(invoice=original, amount=original.balance, currency="EUR")
    return invoice_issue_credit(
        original=original, amount=D("40.00"), reason="SLA credit", issue_date=ISSUED
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
