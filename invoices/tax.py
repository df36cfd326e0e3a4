"""Who pays what VAT: the one place the portal decides an invoice's tax treatment.

`tax_decide` is a pure function of the seller's and the buyer's facts and the tax point (and
a rate table, loaded once for many decisions by `rate_table_load`); it returns the EN 16931
VAT category, the rate, the key of the legal note and the evidence the decision rested on.
`vat_breakdown` computes the tax of a document per (category, rate) group, the way EN 16931
does (BR-CO-17, BR-S-08), so the invoice's totals, its page, its PDF and its e-invoice XML
all state the same numbers.

The rules for a hosting company's services (place of supply, Directive 2006/112/EC):
- EU seller, buyer in the seller's country: the seller's rate (S).
- EU seller, business in another member state with a valid VAT number: reverse charge (AE,
  0%, Article 196), both VAT numbers printed.
- EU seller, consumer (or no valid VAT number) in another member state: the buyer's
  country's rate when the seller uses the One-Stop Shop or its EU distance sales are above
  EUR 10,000 a year (Article 59c), else the seller's rate.
- EU seller, buyer outside the EU: outside the scope of EU VAT (O).
- Seller outside the EU: the rate of the buyer's country where its admin said it charges
  tax there (`SellerTaxCountry`), else no tax (O).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from accounts.models import Account, TaxIdKind, TaxIdStatus
from accounts.tax_ids import EU_MEMBER_STATES

from .models import RateKind, SellerTaxCountry, TaxRate, VatCategory
from .money import round_money, sum_money


class TaxNote(models.TextChoices):
    """The legal note an invoice prints (Invoice.tax_note keeps the key; documents show the
    label in the reader's language). Also the VAT exemption reason of an e-invoice."""

    REVERSE_CHARGE = (
        "reverse_charge",
        _(
            "Reverse charge: VAT to be accounted for by the recipient, Article 196 of "
            "Directive 2006/112/EC"
        ),
    )
    OUTSIDE_EU = (
        "outside_eu",
        _("Outside the scope of EU VAT: the place of supply is outside the European Union"),
    )
    NOT_CHARGED = (
        "not_charged",
        _("No VAT charged: the seller is not registered for tax in the buyer's country"),
    )


# The VATEX code (CEF's VAT exemption reason code list) an e-invoice states for each note.
VATEX_CODES: Mapping[str, str] = {
    TaxNote.REVERSE_CHARGE: "VATEX-EU-AE",
    TaxNote.OUTSIDE_EU: "VATEX-EU-O",
    TaxNote.NOT_CHARGED: "VATEX-EU-O",
}


def tax_note_text(key: str) -> str:
    """The legal note of `key` in the active language ("" for no note or an unknown key)."""
    try:
        return str(TaxNote(key).label)
    except ValueError:
        return ""


class Rule(models.TextChoices):
    """Which row of the rules decided (kept in the evidence)."""

    DOMESTIC = "domestic"
    REVERSE_CHARGE = "reverse_charge"
    DISTANCE_SALE_BUYER_RATE = "distance_sale_buyer_rate"
    DISTANCE_SALE_SELLER_RATE = "distance_sale_seller_rate"
    EXPORT = "export"
    NON_EU_SELLER_CHARGES = "non_eu_seller_charges"
    NON_EU_SELLER_NO_TAX = "non_eu_seller_no_tax"


class MissingTaxRateError(LookupError):
    """No rate of the table is in force for a country, kind and day the rules need."""

    def __init__(self, country: str, kind: str, day: date) -> None:
        super().__init__(f"No {kind} tax rate for {country} in force on {day.isoformat()}.")
        self.country, self.kind, self.day = country, kind, day


@dataclass(frozen=True)
class SellerFacts:
    country: str
    vat_id: str = ""
    uses_oss: bool = False
    above_distance_sales_threshold: bool = False


def seller_facts() -> SellerFacts:
    """The seller as configured (SELLER_* settings)."""
    return SellerFacts(
        country=str(settings.SELLER_COUNTRY).upper(),
        vat_id=str(settings.SELLER_VAT_ID),
        uses_oss=bool(settings.SELLER_USES_OSS),
        above_distance_sales_threshold=bool(settings.SELLER_EU_DISTANCE_SALES_ABOVE_THRESHOLD),
    )


@dataclass(frozen=True)
class BuyerFacts:
    """What the rules know of the buyer: the billing country, the tax ID with its kind and
    status, and further evidence of where the buyer is (card country, client address
    country) when known."""

    country: str
    tax_id: str = ""
    tax_id_kind: str = ""
    tax_id_status: str = ""
    card_country: str = ""
    client_country: str = ""
    vies_request_identifier: str = ""

    @property
    def has_valid_eu_vat_number(self) -> bool:
        return (
            bool(self.tax_id)
            and self.tax_id_kind == TaxIdKind.EU_VAT
            and self.tax_id_status == TaxIdStatus.VALID
        )


def account_buyer_facts(
    account: Account, *, evidence: Mapping[str, str] | None = None
) -> BuyerFacts:
    """The facts of `account` the rules use; `evidence` adds card_country / client_country."""
    evidence = evidence or {}
    return BuyerFacts(
        country=account.country.code or "",
        tax_id=account.tax_id,
        tax_id_kind=account.tax_id_kind,
        tax_id_status=account.tax_id_status,
        card_country=evidence.get("card_country", "").upper(),
        client_country=evidence.get("client_country", "").upper(),
        vies_request_identifier=str(account.tax_id_evidence.get("requestIdentifier", "")),
    )


@dataclass(frozen=True)
class RateRow:
    country: str
    kind: str
    category: str
    rate: Decimal
    valid_from: date
    valid_to: date | None


@dataclass(frozen=True)
class RateTable:
    """The tax rates and the non-EU seller's tax countries, loaded once for many decisions."""

    rates: tuple[RateRow, ...]
    seller_tax_countries: Mapping[str, str] = field(default_factory=dict)

    def rate(self, country: str, kind: str, day: date) -> RateRow:
        """The row in force for `country` and `kind` on `day` (the latest start wins)."""
        rows = [
            row
            for row in self.rates
            if row.country == country
            and row.kind == kind
            and row.valid_from <= day
            and (row.valid_to is None or row.valid_to >= day)
        ]
        if not rows:
            raise MissingTaxRateError(country, kind, day)
        return max(rows, key=lambda row: row.valid_from)


def rate_table_load(*, countries: Iterable[str] | None = None) -> RateTable:
    """The rate table from the database (two queries); `countries` narrows it (the seller's
    and the buyers' countries of a billing chunk)."""
    rates = TaxRate.objects.all()
    if countries is not None:
        rates = rates.filter(country__in=set(countries))
    return RateTable(
        rates=tuple(
            RateRow(r.country, r.kind, r.vat_category, r.rate, r.valid_from, r.valid_to)
            for r in rates
        ),
        seller_tax_countries=dict(SellerTaxCountry.objects.values_list("country", "kind")),
    )


@dataclass(frozen=True)
class TaxDecision:
    """An invoice's tax treatment: its category, rate (percent), note key and evidence."""

    category: VatCategory
    rate: Decimal
    note: str
    evidence: Mapping[str, Any]


def tax_decide(
    *,
    buyer: BuyerFacts,
    tax_point: date,
    seller: SellerFacts | None = None,
    table: RateTable | None = None,
) -> TaxDecision:
    """Decide the tax treatment of a supply to `buyer` on `tax_point`.

    `seller` defaults to the configured seller, `table` to the database's rates (pass a
    preloaded table to decide for many accounts with one query). Raises MissingTaxRateError
    when the rules need a rate the table does not have for that day.
    """
    seller = seller or seller_facts()
    if table is None:
        table = rate_table_load(countries={seller.country, buyer.country})
    evidence: dict[str, Any] = {
        "tax_point": tax_point.isoformat(),
        "seller_country": seller.country,
        "billing_country": buyer.country,
    }
    if buyer.card_country:
        evidence["card_country"] = buyer.card_country
    if buyer.client_country:
        evidence["client_country"] = buyer.client_country
    others = [c for c in (buyer.card_country, buyer.client_country) if c]
    if others:
        # OSS needs two pieces of evidence that agree (Implementing Regulation 282/2011,
        # Article 24b); the billing country decides, a conflict is kept for the accountant.
        evidence["evidence_agrees"] = all(c == buyer.country for c in others)
    if buyer.tax_id:
        evidence["buyer_tax_id"] = buyer.tax_id
        evidence["buyer_tax_id_kind"] = buyer.tax_id_kind
        evidence["buyer_tax_id_status"] = buyer.tax_id_status
    if buyer.vies_request_identifier:
        evidence["vies_request_identifier"] = buyer.vies_request_identifier

    def charged(rule: Rule, country: str, kind: str) -> TaxDecision:
        row = table.rate(country, kind, tax_point)
        evidence.update(rule=rule.value, rate_country=country, rate_kind=kind)
        return TaxDecision(VatCategory(row.category), row.rate, "", evidence)

    def untaxed(rule: Rule, category: VatCategory, note: TaxNote) -> TaxDecision:
        evidence["rule"] = rule.value
        return TaxDecision(category, Decimal(0), note.value, evidence)

    if seller.country in EU_MEMBER_STATES:
        evidence["seller_uses_oss"] = seller.uses_oss
        evidence["seller_above_distance_sales_threshold"] = seller.above_distance_sales_threshold
        if buyer.country == seller.country:
            return charged(Rule.DOMESTIC, seller.country, RateKind.STANDARD)
        if buyer.country in EU_MEMBER_STATES:
            if buyer.has_valid_eu_vat_number:
                return untaxed(
                    Rule.REVERSE_CHARGE, VatCategory.REVERSE_CHARGE, TaxNote.REVERSE_CHARGE
                )
            if seller.uses_oss or seller.above_distance_sales_threshold:
                return charged(Rule.DISTANCE_SALE_BUYER_RATE, buyer.country, RateKind.STANDARD)
            return charged(Rule.DISTANCE_SALE_SELLER_RATE, seller.country, RateKind.STANDARD)
        return untaxed(Rule.EXPORT, VatCategory.OUTSIDE_SCOPE, TaxNote.OUTSIDE_EU)
    kind = table.seller_tax_countries.get(buyer.country)
    if kind:
        return charged(Rule.NON_EU_SELLER_CHARGES, buyer.country, kind)
    return untaxed(Rule.NON_EU_SELLER_NO_TAX, VatCategory.OUTSIDE_SCOPE, TaxNote.NOT_CHARGED)


# The VAT breakdown ---------------------------------------------------------------------------


@dataclass(frozen=True)
class VatGroup:
    """One line of a VAT breakdown: the taxable amount of a (category, rate) and its tax."""

    category: str
    rate: Decimal
    taxable: Decimal
    tax: Decimal


@dataclass(frozen=True)
class VatBreakdown:
    groups: tuple[VatGroup, ...]
    subtotal: Decimal
    tax: Decimal
    total: Decimal


def vat_breakdown(*, lines: Iterable[tuple[str, Decimal, Decimal]], currency: str) -> VatBreakdown:
    """The VAT of a document from its top-level lines, each (category, rate, amount):
    per (category, rate) group, tax = round(sum of the group's amounts x rate / 100) in the
    currency's exponent; total = subtotal + the groups' taxes (EN 16931 BR-CO-17, BR-S-08).
    Groups come in order of category, then rate (20 and 20.000 are one rate)."""
    amounts: dict[tuple[str, Decimal], list[Decimal]] = {}
    for category, rate, amount in lines:
        amounts.setdefault((str(category), Decimal(rate)), []).append(amount)
    groups = []
    for (category, rate), values in sorted(amounts.items()):
        taxable = sum_money(values, currency)
        groups.append(
            VatGroup(category, rate, taxable, round_money(taxable * rate / 100, currency))
        )
    subtotal = sum_money((g.taxable for g in groups), currency)
    tax = sum_money((g.tax for g in groups), currency)
    return VatBreakdown(tuple(groups), subtotal, tax, subtotal + tax)
