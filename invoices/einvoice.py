"""The EN 16931 e-invoice of an invoice: Cross Industry Invoice XML at Factur-X's EN 16931
profile, the XML a Factur-X PDF carries (`documents.py` embeds it) and a download of its own.

Every figure comes from the invoice as issued: its stored totals, its items' VAT categories
and rates and the breakdown computed from them (`vat.py`). Nothing is recomputed to make the
document agree with itself, so an invoice whose stored tax disagrees with its lines yields an
XML that the EN 16931 rules reject (which the tests prove).

Amounts are written with the currency's ISO 4217 exponent (JPY with none). A Credit or
Refund document is a credit note (type code 381) that refers to the invoice it corrects;
its amounts are stated as positive figures, as EN 16931 expects of a credit note.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from django.utils import translation
from django.utils.translation import gettext as _
from lxml import etree

from accounts.postal import country_code_of

from .models import Invoice, InvoiceItem, VatCategory
from .money import quantum
from .selectors import invoice_item_rows
from .tax_notes import CN_USCC, EU_VAT, GB_VAT, tax_id_label, tax_note_text
from .vat import VatGroup, vat_groups

PROFILE = "urn:cen.eu:en16931:2017"
# Changed when the XML this module writes changes: every stored document is rendered again.
EINVOICE_VERSION = "en16931-1"
INVOICE_TYPE_CODE = "380"
CREDIT_NOTE_TYPE_CODE = "381"
XML_FILENAME = "factur-x.xml"

RSM = "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100"
RAM = "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100"
QDT = "urn:un:unece:uncefact:data:standard:QualifiedDataType:100"
UDT = "urn:un:unece:uncefact:data:standard:UnqualifiedDataType:100"
NSMAP = {"rsm": RSM, "qdt": QDT, "ram": RAM, "udt": UDT}

# Buyer tax IDs that are VAT identifiers (BT-48, scheme "VA"); a Chinese unified social
# credit code is the buyer's legal registration identifier (BT-47).
VAT_ID_KINDS = frozenset({EU_VAT, GB_VAT})


def _el(parent: etree._Element, tag: str, text: str | None = None, **attrs: str) -> etree._Element:
    prefix, name = tag.split(":")
    element = etree.SubElement(parent, f"{{{NSMAP[prefix]}}}{name}", attrs or None)
    if text is not None:
        element.text = text
    return element


def _date(parent: etree._Element, tag: str, day: date, kind: str = "udt") -> None:
    holder = _el(parent, tag)
    _el(holder, f"{kind}:DateTimeString", day.strftime("%Y%m%d"), format="102")


class _Amounts:
    """Amounts of one currency, written with its exponent; `sign` -1 states a credit
    note's (negative) figures as positive ones."""

    def __init__(self, currency: str, sign: int) -> None:
        self.quantum = quantum(currency)
        self.sign = sign

    def __call__(self, amount: Decimal) -> str:
        return str((amount * self.sign).quantize(self.quantum) + 0)


def _rate(rate: Decimal) -> str:
    return format(rate.normalize() + 0, "f")


def _address_lines(text: str, country: str) -> list[str]:
    """The address's lines without a last line that names its country (the country goes in
    its own element)."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if len(lines) > 1 and country_code_of(lines[-1]) == country:
        lines.pop()
    return lines


def _address(party: etree._Element, text: str, country: str) -> None:
    address = _el(party, "ram:PostalTradeAddress")
    lines = _address_lines(text, country)
    # CII has three address lines; the rest of a longer address stays on the third.
    for tag, line in zip(("ram:LineOne", "ram:LineTwo"), lines[:2], strict=False):
        _el(address, tag, line)
    if len(lines) > 2:
        _el(address, "ram:LineThree", ", ".join(lines[2:]))
    _el(address, "ram:CountryID", country)


def _is_vat_id(tax_id: str) -> bool:
    """A VAT identifier begins with its country's two letters (BR-CO-9)."""
    return len(tax_id) > 2 and tax_id[:2].isalpha() and tax_id[:2].isupper()


def _seller(agreement: etree._Element, invoice: Invoice, vat_ids_allowed: bool) -> None:
    party = _el(agreement, "ram:SellerTradeParty")
    _el(party, "ram:Name", invoice.seller_name)
    tax_id = invoice.seller_tax_id.strip()
    as_vat = bool(tax_id) and vat_ids_allowed and _is_vat_id(tax_id)
    if tax_id and not as_vat:
        # Not a VAT identifier here (a seller outside the EU, or a supply outside the scope
        # of VAT, BR-O-02): the seller's registration identifies it (BR-CO-26).
        legal = _el(party, "ram:SpecifiedLegalOrganization")
        _el(legal, "ram:ID", tax_id)
    _address(party, invoice.seller_address, invoice.seller_country or "US")
    if tax_id:
        # BT-31 (VAT identifier) or BT-32 (tax registration identifier).
        registration = _el(party, "ram:SpecifiedTaxRegistration")
        _el(registration, "ram:ID", tax_id, schemeID="VA" if as_vat else "FC")


def _buyer(agreement: etree._Element, invoice: Invoice, vat_ids_allowed: bool) -> None:
    party = _el(agreement, "ram:BuyerTradeParty")
    _el(party, "ram:Name", invoice.buyer_name)
    tax_id = invoice.buyer_tax_id.strip()
    if tax_id and invoice.buyer_tax_id_kind == CN_USCC:
        legal = _el(party, "ram:SpecifiedLegalOrganization")
        _el(legal, "ram:ID", tax_id)
        if invoice.buyer_invoice_title:
            _el(legal, "ram:TradingBusinessName", invoice.buyer_invoice_title)
    _address(party, invoice.buyer_address, invoice.buyer_country)
    if tax_id and vat_ids_allowed and invoice.buyer_tax_id_kind in VAT_ID_KINDS:
        registration = _el(party, "ram:SpecifiedTaxRegistration")
        _el(registration, "ram:ID", tax_id, schemeID="VA")


def _labelled(label: str, value: str) -> str:
    return _("%(label)s: %(value)s") % {"label": label, "value": value}


def _notes(invoice: Invoice, vat_ids_allowed: bool) -> list[str]:
    """The invoice's notes (BT-22): the legal note, the seller's legal mentions, and what
    the buyer's registration says where EN 16931 has no element for it."""
    notes = []
    if text := tax_note_text(invoice.tax_note):
        notes.append(text)
    if invoice.seller_legal_mentions.strip():
        notes.append(invoice.seller_legal_mentions.strip())
    kind = invoice.buyer_tax_id_kind
    if invoice.buyer_tax_id and (
        kind not in VAT_ID_KINDS | {CN_USCC} or (kind in VAT_ID_KINDS and not vat_ids_allowed)
    ):
        notes.append(_labelled(tax_id_label(kind), invoice.buyer_tax_id))
    if invoice.buyer_invoice_title:
        label = _("Invoice title (发票抬头)")
        notes.append(_labelled(label, invoice.buyer_invoice_title))
    if invoice.refers_to_id and invoice.reason:
        notes.append(invoice.reason)
    return notes


def _line_note(details: list[InvoiceItem], currency: str) -> str:
    amount = _Amounts(currency, 1)
    return "\n".join(f"{detail.description}: {amount(detail.amount)}" for detail in details)


def _price_and_quantity(item: InvoiceItem, sign: int, currency: str) -> tuple[str, str]:
    """The line's net price (never negative, BR-27) and quantity, so that quantity times
    price is the line's amount; a prorated or detailed line is one unit at its amount."""
    amount = item.amount * sign
    price = item.unit_price * sign
    if price >= 0 and item.quantity > 0 and item.quantity * price == amount:
        return format(price.normalize() + 0, "f"), format(item.quantity.normalize() + 0, "f")
    units = "1" if amount >= 0 else "-1"
    return str(abs(amount).quantize(quantum(currency)) + 0), units


def _line(
    transaction: etree._Element,
    item: InvoiceItem,
    details: list[InvoiceItem],
    sign: int,
    amounts: _Amounts,
    currency: str,
) -> None:
    line = _el(transaction, "ram:IncludedSupplyChainTradeLineItem")
    document = _el(line, "ram:AssociatedDocumentLineDocument")
    _el(document, "ram:LineID", str(item.position))
    if details:
        note = _el(document, "ram:IncludedNote")
        _el(note, "ram:Content", _line_note(details, currency))
    product = _el(line, "ram:SpecifiedTradeProduct")
    _el(product, "ram:Name", item.description)
    described = " · ".join(part for part in (item.category, item.resource_label) if part)
    if described:
        _el(product, "ram:Description", described)
    price, quantity = _price_and_quantity(item, sign, currency)
    agreement = _el(line, "ram:SpecifiedLineTradeAgreement")
    net = _el(agreement, "ram:NetPriceProductTradePrice")
    _el(net, "ram:ChargeAmount", price)
    delivery = _el(line, "ram:SpecifiedLineTradeDelivery")
    _el(delivery, "ram:BilledQuantity", quantity, unitCode="C62")
    settlement = _el(line, "ram:SpecifiedLineTradeSettlement")
    tax = _el(settlement, "ram:ApplicableTradeTax")
    _el(tax, "ram:TypeCode", "VAT")
    _el(tax, "ram:CategoryCode", item.vat_category)
    if item.vat_category != VatCategory.OUTSIDE_SCOPE:
        _el(tax, "ram:RateApplicablePercent", _rate(item.vat_rate))
    if item.period_start and item.period_end:
        period = _el(settlement, "ram:BillingSpecifiedPeriod")
        _date(period, "ram:StartDateTime", item.period_start)
        _date(period, "ram:EndDateTime", item.period_end)
    summation = _el(settlement, "ram:SpecifiedTradeSettlementLineMonetarySummation")
    _el(summation, "ram:LineTotalAmount", amounts(item.amount))


def _exemption_reason(group: VatGroup, invoice: Invoice) -> str:
    if group.category in (VatCategory.STANDARD, VatCategory.ZERO):
        return ""
    return tax_note_text(invoice.tax_note) or str(group.category.label)


def _breakdown(
    settlement: etree._Element, group: VatGroup, invoice: Invoice, amounts: _Amounts
) -> None:
    tax = _el(settlement, "ram:ApplicableTradeTax")
    _el(tax, "ram:CalculatedAmount", amounts(group.tax))
    _el(tax, "ram:TypeCode", "VAT")
    if reason := _exemption_reason(group, invoice):
        _el(tax, "ram:ExemptionReason", reason)
    _el(tax, "ram:BasisAmount", amounts(group.taxable))
    _el(tax, "ram:CategoryCode", group.category)
    if group.exemption_code:
        _el(tax, "ram:ExemptionReasonCode", group.exemption_code)
    if group.category != VatCategory.OUTSIDE_SCOPE:
        _el(tax, "ram:RateApplicablePercent", _rate(group.rate))


def _paid_and_due(invoice: Invoice) -> tuple[Decimal, Decimal]:
    """What was paid (BT-113) and what is still due (BT-115), as the document's sign."""
    if invoice.type == Invoice.Type.REFUND:
        # A refund records money already returned: nothing is due on it.
        return invoice.total, Decimal(0)
    return invoice.total - invoice.balance, invoice.balance


def invoice_cii_xml(invoice: Invoice, language: str) -> bytes:
    """The invoice as CII XML at Factur-X's EN 16931 profile, its texts in `language`."""
    with translation.override(language):
        root = _document(invoice)
    xml: bytes = etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
    return xml


def _document(invoice: Invoice) -> etree._Element:
    is_credit_note = not invoice.is_charge
    sign = -1 if is_credit_note else 1
    currency = invoice.currency
    amounts = _Amounts(currency, sign)
    rows = invoice_item_rows(invoice)
    groups = vat_groups((row.item for row in rows), currency)
    vat_ids_allowed = all(g.category != VatCategory.OUTSIDE_SCOPE for g in groups)

    root = etree.Element(f"{{{RSM}}}CrossIndustryInvoice", nsmap=NSMAP)
    context = _el(root, "rsm:ExchangedDocumentContext")
    guideline = _el(context, "ram:GuidelineSpecifiedDocumentContextParameter")
    _el(guideline, "ram:ID", PROFILE)

    document = _el(root, "rsm:ExchangedDocument")
    _el(document, "ram:ID", invoice.number)
    _el(document, "ram:TypeCode", CREDIT_NOTE_TYPE_CODE if is_credit_note else INVOICE_TYPE_CODE)
    _date(document, "ram:IssueDateTime", invoice.issue_date)
    for text in _notes(invoice, vat_ids_allowed):
        note = _el(document, "ram:IncludedNote")
        _el(note, "ram:Content", text)

    transaction = _el(root, "rsm:SupplyChainTradeTransaction")
    for row in rows:
        _line(transaction, row.item, row.details, sign, amounts, currency)

    agreement = _el(transaction, "ram:ApplicableHeaderTradeAgreement")
    _seller(agreement, invoice, vat_ids_allowed)
    _buyer(agreement, invoice, vat_ids_allowed)

    # The date of supply (BT-72): the tax point the treatment was decided on; before tax
    # points were recorded, the end of the service period or the issue date.
    delivery = _el(transaction, "ram:ApplicableHeaderTradeDelivery")
    event = _el(delivery, "ram:ActualDeliverySupplyChainEvent")
    supplied = invoice.tax_point or invoice.period_end or invoice.issue_date
    _date(event, "ram:OccurrenceDateTime", supplied)

    settlement = _el(transaction, "ram:ApplicableHeaderTradeSettlement")
    _el(settlement, "ram:InvoiceCurrencyCode", currency)
    for group in groups:
        _breakdown(settlement, group, invoice, amounts)
    if invoice.period_start and invoice.period_end:
        period = _el(settlement, "ram:BillingSpecifiedPeriod")
        _date(period, "ram:StartDateTime", invoice.period_start)
        _date(period, "ram:EndDateTime", invoice.period_end)
    paid, due = _paid_and_due(invoice)
    terms = _el(settlement, "ram:SpecifiedTradePaymentTerms")
    _el(terms, "ram:Description", _payment_terms(invoice))
    _date(terms, "ram:DueDateDateTime", invoice.due_date)

    summation = _el(settlement, "ram:SpecifiedTradeSettlementHeaderMonetarySummation")
    _el(
        summation,
        "ram:LineTotalAmount",
        amounts(sum((row.item.amount for row in rows), Decimal(0))),
    )
    _el(summation, "ram:TaxBasisTotalAmount", amounts(invoice.subtotal))
    _el(summation, "ram:TaxTotalAmount", amounts(invoice.tax), currencyID=currency)
    _el(summation, "ram:GrandTotalAmount", amounts(invoice.total))
    _el(summation, "ram:TotalPrepaidAmount", amounts(paid))
    _el(summation, "ram:DuePayableAmount", amounts(due))

    if invoice.refers_to is not None:
        reference = _el(settlement, "ram:InvoiceReferencedDocument")
        _el(reference, "ram:IssuerAssignedID", invoice.refers_to.number)
        _date(reference, "ram:FormattedIssueDateTime", invoice.refers_to.issue_date, kind="qdt")
    return root


def _payment_terms(invoice: Invoice) -> str:
    if invoice.type == Invoice.Type.REFUND:
        return _("Refunded: nothing is due.")
    if invoice.type == Invoice.Type.CREDIT:
        return _("The credit is applied to the account's open invoices.")
    days = (invoice.due_date - invoice.issue_date).days
    if days <= 0:
        return _("Due on receipt.")
    return _("Payable within %(days)s days of the invoice date.") % {"days": days}


def xml_filename(invoice: Invoice) -> str:
    return f"invoice-{invoice.number}.xml"
