"""The tax rules of issue 13, row by row, and how issuing applies them.

The rates are the ones the data migration loads (invoices/migrations/0006_load_tax_rates.py),
read from the test database as production reads them.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.db import transaction
from django.utils import translation

from accounts.models import Account, Membership, TaxIdKind, TaxIdStatus
from invoices.models import (
    Invoice,
    RateKind,
    RecurringCharge,
    SellerTaxCountry,
    TaxRate,
    VatCategory,
)
from invoices.services import (
    InvoiceError,
    ItemSpec,
    invoice_apply_payment,
    invoice_issue_credit,
    invoice_issue_one_time,
    invoice_issue_refund,
    recurring_run_account,
)
from invoices.tax import (
    BuyerFacts,
    MissingTaxRateError,
    RateRow,
    RateTable,
    SellerFacts,
    TaxNote,
    rate_table_load,
    tax_decide,
    tax_note_text,
    vat_breakdown,
)
from payments.models import PaymentMethod
from tests.factories import AccountFactory, UserFactory

D = Decimal
DAY = date(2026, 12, 1)
pytestmark = pytest.mark.django_db

DE_SELLER = SellerFacts(country="DE", vat_id="DE136695976")
FR_VAT = "FR40303265045"


def _decide(buyer: BuyerFacts, seller: SellerFacts = DE_SELLER, day: date = DAY):  # type: ignore[no-untyped-def]
    return tax_decide(buyer=buyer, seller=seller, tax_point=day)


def _business(country: str, number: str, status: str = TaxIdStatus.VALID) -> BuyerFacts:
    return BuyerFacts(
        country=country, tax_id=number, tax_id_kind=TaxIdKind.EU_VAT, tax_id_status=status
    )


# Row 1: seller and buyer in the same EU country -------------------------------------------


def test_same_eu_country_pays_the_sellers_standard_rate() -> None:
    decision = _decide(BuyerFacts(country="DE"))
    assert (decision.category, decision.rate, decision.note) == (VatCategory.STANDARD, D(19), "")
    assert decision.evidence["rule"] == "domestic"
    assert decision.evidence["rate_country"] == "DE"


def test_same_eu_country_is_not_reverse_charged_even_with_a_valid_vat_number() -> None:
    decision = _decide(_business("DE", "DE136695976"))
    assert (decision.category, decision.rate) == (VatCategory.STANDARD, D(19))


# Row 2: EU business in another member state with a valid VAT number ------------------------


def test_eu_business_in_another_member_state_with_a_valid_number_is_reverse_charged() -> None:
    decision = _decide(_business("FR", FR_VAT))
    assert decision.category == VatCategory.REVERSE_CHARGE
    assert decision.rate == 0
    assert decision.note == TaxNote.REVERSE_CHARGE
    assert decision.evidence["buyer_tax_id"] == FR_VAT
    assert decision.evidence["rule"] == "reverse_charge"


def test_the_reverse_charge_note_in_english_and_chinese() -> None:
    with translation.override("en"):
        assert tax_note_text(TaxNote.REVERSE_CHARGE) == (
            "Reverse charge: VAT to be accounted for by the recipient, Article 196 of "
            "Directive 2006/112/EC"
        )
    with translation.override("zh-hans"):
        text = tax_note_text(TaxNote.REVERSE_CHARGE)
        assert "反向征收" in text
        assert "2006/112/EC" in text


# Row 3: EU consumer, or business without a valid number, in another member state ----------


@pytest.mark.parametrize(
    ("uses_oss", "above_threshold", "country", "rate"),
    [
        (True, False, "FR", D(20)),
        (False, True, "FR", D(20)),
        (True, True, "FR", D(20)),
        (False, False, "DE", D(19)),
    ],
)
def test_eu_consumer_elsewhere_pays_the_buyers_rate_with_oss_or_above_threshold_else_the_sellers(
    uses_oss: bool, above_threshold: bool, country: str, rate: Decimal
) -> None:
    seller = SellerFacts(
        country="DE", uses_oss=uses_oss, above_distance_sales_threshold=above_threshold
    )
    decision = _decide(BuyerFacts(country="FR"), seller)
    assert (decision.category, decision.rate, decision.note) == (VatCategory.STANDARD, rate, "")
    assert decision.evidence["rate_country"] == country


@pytest.mark.parametrize("status", [TaxIdStatus.INVALID, TaxIdStatus.UNCONFIRMED, ""])
def test_a_business_without_a_valid_vat_number_is_taxed_as_a_consumer(status: str) -> None:
    seller = SellerFacts(country="DE", uses_oss=True)
    decision = _decide(_business("FR", FR_VAT, status), seller)
    assert (decision.category, decision.rate) == (VatCategory.STANDARD, D(20))
    assert decision.evidence["buyer_tax_id_status"] == status


def test_a_uk_or_chinese_tax_id_is_no_eu_vat_number() -> None:
    buyer = BuyerFacts(
        country="FR", tax_id="GB980780684", tax_id_kind=TaxIdKind.GB_VAT, tax_id_status="valid"
    )
    assert _decide(buyer).category == VatCategory.STANDARD


# Row 4: EU seller, buyer outside the EU ----------------------------------------------------


@pytest.mark.parametrize("country", ["US", "CN", "GB", "CH", "JP"])
def test_eu_seller_and_a_buyer_outside_the_eu_is_outside_the_scope(country: str) -> None:
    decision = _decide(BuyerFacts(country=country))
    assert (decision.category, decision.rate) == (VatCategory.OUTSIDE_SCOPE, D(0))
    assert decision.note == TaxNote.OUTSIDE_EU
    assert decision.evidence["rule"] == "export"


# Row 5: a seller outside the EU ------------------------------------------------------------


def test_a_seller_outside_the_eu_charges_no_tax_by_default() -> None:
    seller = SellerFacts(country="US")
    for country in ("CN", "DE", "US"):
        decision = _decide(BuyerFacts(country=country), seller)
        assert (decision.category, decision.rate) == (VatCategory.OUTSIDE_SCOPE, D(0))
        assert decision.note == TaxNote.NOT_CHARGED


def test_a_seller_outside_the_eu_charges_the_rate_its_admin_configured_per_country() -> None:
    SellerTaxCountry.objects.create(country="CN", kind=RateKind.TELECOM)
    seller = SellerFacts(country="US")
    china = _decide(BuyerFacts(country="CN"), seller)
    assert (china.category, china.rate, china.note) == (VatCategory.STANDARD, D(6), "")
    assert china.evidence["rate_kind"] == RateKind.TELECOM
    # Only where configured: a German customer of the US seller still pays none.
    assert _decide(BuyerFacts(country="DE"), seller).category == VatCategory.OUTSIDE_SCOPE


# The rates: data, dated, in force on the tax point ----------------------------------------

EU_STANDARD_RATES_2026_12_01 = {
    "AT": "20", "BE": "21", "BG": "20", "CY": "19", "CZ": "21", "DE": "19", "DK": "25",
    "EE": "24", "ES": "21", "FI": "25.5", "FR": "20", "GR": "24", "HR": "25", "HU": "27",
    "IE": "23", "IT": "22", "LT": "21", "LU": "17", "LV": "21", "MT": "18", "NL": "21",
    "PL": "23", "PT": "23", "RO": "21", "SE": "25", "SI": "22", "SK": "23",
}  # fmt: skip


def test_the_migration_loads_the_standard_rate_of_every_member_state_in_force_on_2026_12_01() -> (
    None
):
    table = rate_table_load()
    loaded = {
        country: table.rate(country, RateKind.STANDARD, DAY).rate
        for country in EU_STANDARD_RATES_2026_12_01
    }
    assert loaded == {c: D(r) for c, r in EU_STANDARD_RATES_2026_12_01.items()}
    assert table.rate("CN", RateKind.TELECOM, DAY).rate == D(6)


@pytest.mark.parametrize(
    ("country", "last_day_before", "before", "after"),
    [
        ("EE", date(2025, 6, 30), "22", "24"),
        ("RO", date(2025, 7, 31), "19", "21"),
        ("SK", date(2024, 12, 31), "20", "23"),
        ("FI", date(2024, 8, 31), "24", "25.5"),
    ],
)
def test_an_invoice_takes_the_rate_in_force_on_its_tax_point(
    country: str, last_day_before: date, before: str, after: str
) -> None:
    seller = SellerFacts(country=country)
    buyer = BuyerFacts(country=country)
    assert _decide(buyer, seller, last_day_before).rate == D(before)
    assert _decide(buyer, seller, last_day_before + timedelta(days=1)).rate == D(after)


def test_no_rate_for_the_day_is_an_error_not_a_guess() -> None:
    with pytest.raises(MissingTaxRateError):
        _decide(BuyerFacts(country="DE"), DE_SELLER, date(2020, 1, 1))


def test_a_preloaded_table_decides_without_queries(django_assert_num_queries) -> None:  # type: ignore[no-untyped-def]
    table = RateTable(
        rates=(RateRow("FR", RateKind.STANDARD, "S", D(20), date(2024, 1, 1), None),),
        seller_tax_countries={},
    )
    seller = SellerFacts(country="DE", uses_oss=True)
    with django_assert_num_queries(0):
        for _ in range(500):
            decision = tax_decide(
                buyer=BuyerFacts(country="FR"), seller=seller, tax_point=DAY, table=table
            )
    assert decision.rate == D(20)


def test_the_evidence_keeps_every_country_known_and_whether_they_agree() -> None:
    buyer = BuyerFacts(country="FR", card_country="BE", client_country="FR")
    evidence = _decide(buyer, SellerFacts(country="DE", uses_oss=True)).evidence
    assert evidence["billing_country"] == "FR"
    assert evidence["card_country"] == "BE"
    assert evidence["client_country"] == "FR"
    assert evidence["evidence_agrees"] is False
    assert evidence["tax_point"] == "2026-12-01"


# The VAT breakdown --------------------------------------------------------------------------


def test_the_vat_is_computed_per_category_and_rate_and_rounded_once_per_group() -> None:
    breakdown = vat_breakdown(
        lines=[
            ("S", D(20), D("0.03")),
            ("S", D("20.000"), D("0.03")),
            ("S", D("5.5"), D("10.00")),
            ("AE", D(0), D("7.00")),
        ],
        currency="EUR",
    )
    groups = [(g.category, g.rate, g.taxable, g.tax) for g in breakdown.groups]
    # 0.06 x 20% = 0.012 -> 0.01 once for the group (per line it would be 0.00 + 0.00).
    assert groups == [
        ("AE", D(0), D("7.00"), D("0.00")),
        ("S", D("5.5"), D("10.00"), D("0.55")),
        ("S", D(20), D("0.06"), D("0.01")),
    ]
    assert (breakdown.subtotal, breakdown.tax, breakdown.total) == (
        D("17.06"),
        D("0.56"),
        D("17.62"),
    )


def test_the_breakdown_rounds_in_the_currencys_exponent() -> None:
    breakdown = vat_breakdown(lines=[("S", D(10), D(1234))], currency="JPY")
    assert (breakdown.tax, breakdown.total) == (D(123), D(1357))


# Issuing applies the rules ------------------------------------------------------------------


@pytest.fixture
def eu_seller(settings) -> None:  # type: ignore[no-untyped-def]
    settings.SELLER_COUNTRY = "DE"
    settings.SELLER_VAT_ID = "DE136695976"
    settings.SELLER_USES_OSS = False
    settings.SELLER_EU_DISTANCE_SALES_ABOVE_THRESHOLD = False
    settings.SELLER_LEGAL_MENTIONS = "Amtsgericht Berlin HRB 12345\nGeschäftsführer: A. Example"


def _fr_business() -> Account:
    return AccountFactory(
        company_name="Exemple SARL",
        country="FR",
        currency="EUR",
        tax_id_kind=TaxIdKind.EU_VAT,
        tax_id=FR_VAT,
        tax_id_status=TaxIdStatus.VALID,
        tax_id_evidence={"valid": True, "requestIdentifier": "WAPIAAAAW1234567"},
    )


def _setup_fee(account: Account, price: str = "100.00", **kwargs: object) -> Invoice:
    return invoice_issue_one_time(
        account=account,
        items=[ItemSpec(description="Setup fee", unit_price=D(price))],
        issue_date=DAY,
        **kwargs,  # type: ignore[arg-type]
    )


def test_a_reverse_charge_invoice_carries_both_vat_numbers_the_note_and_the_evidence(
    eu_seller: None,
) -> None:
    invoice = _setup_fee(_fr_business())
    assert (invoice.subtotal, invoice.tax, invoice.total) == (D("100.00"), D(0), D("100.00"))
    assert invoice.seller_tax_id == "DE136695976"
    assert invoice.seller_country == "DE"
    assert invoice.buyer_tax_id == FR_VAT
    assert invoice.buyer_tax_id_kind == TaxIdKind.EU_VAT
    assert invoice.tax_note == TaxNote.REVERSE_CHARGE
    assert invoice.tax_point == DAY
    assert invoice.tax_evidence["vies_request_identifier"] == "WAPIAAAAW1234567"
    assert invoice.seller_legal_mentions.startswith("Amtsgericht Berlin")
    item = invoice.items.get()
    assert (item.vat_category, item.vat_rate) == (VatCategory.REVERSE_CHARGE, D(0))


def test_an_account_whose_vat_number_turned_out_invalid_is_taxed_as_a_consumer(
    eu_seller: None,
    settings,  # type: ignore[no-untyped-def]
) -> None:
    settings.SELLER_USES_OSS = True
    account = _fr_business()
    Account.objects.filter(pk=account.pk).update(tax_id_status=TaxIdStatus.INVALID)
    account.refresh_from_db()
    invoice = _setup_fee(account)
    assert (invoice.tax, invoice.total, invoice.tax_note) == (D("20.00"), D("120.00"), "")
    assert invoice.items.get().vat_category == VatCategory.STANDARD


def test_the_monthly_cards_country_is_kept_as_evidence(eu_seller: None) -> None:
    account = AccountFactory(country="DE", currency="EUR")
    user = UserFactory()
    Membership.objects.create(user=user, account=account, role=Membership.Role.OWNER)
    PaymentMethod.objects.create(
        account=account,
        gateway="sandbox",
        token="tok_evidence",
        contact_email="a@example.com",
        state=PaymentMethod.State.VERIFIED,
        is_monthly=True,
        created_by=user,
        address_line1="1 Rue",
        city="Paris",
        country="FR",
    )
    invoice = _setup_fee(account)
    assert invoice.tax_evidence["billing_country"] == "DE"
    assert invoice.tax_evidence["card_country"] == "FR"
    assert invoice.tax_evidence["evidence_agrees"] is False
    assert (invoice.tax_rate, invoice.tax) == (D(19), D("19.00"))


def test_a_recurring_invoice_takes_the_rate_in_force_at_the_end_of_its_period(
    settings,  # type: ignore[no-untyped-def]
) -> None:
    # Estonia: 22% until 30 June 2025, 24% from 1 July 2025.
    settings.SELLER_COUNTRY = "EE"
    account = AccountFactory(country="EE", currency="EUR", billing_day=1)
    RecurringCharge.objects.create(
        account=account,
        description="Server",
        unit_price=D("100.00"),
        starts_on=date(2025, 6, 1),
    )
    june = recurring_run_account(account=account, day=date(2025, 6, 1)).new[0]
    july = recurring_run_account(account=account, day=date(2025, 7, 1)).recurring[0]
    assert (june.tax_point, june.tax_rate, june.tax) == (date(2025, 6, 30), D(22), D("22.00"))
    assert (july.tax_point, july.tax_rate, july.tax) == (date(2025, 7, 31), D(24), D("24.00"))


def test_issued_invoices_never_change_when_rates_or_rules_change_later(
    eu_seller: None,
    settings,  # type: ignore[no-untyped-def]
) -> None:
    account = AccountFactory(country="DE", currency="EUR")
    before = _setup_fee(account)
    # The rate changes, the seller moves, the account gives a VAT number.
    TaxRate.objects.filter(country="DE").update(valid_to=date(2026, 11, 30))
    TaxRate.objects.create(country="DE", rate=D(21), valid_from=date(2026, 12, 1))
    settings.SELLER_COUNTRY = "FR"
    Account.objects.filter(pk=account.pk).update(
        tax_id_kind=TaxIdKind.EU_VAT, tax_id="DE136695976", tax_id_status=TaxIdStatus.VALID
    )
    before.refresh_from_db()
    assert (before.tax_rate, before.tax, before.total) == (D(19), D("19.00"), D("119.00"))
    assert before.items.get().vat_rate == D(19)
    assert before.seller_country == "DE"
    assert before.tax_evidence["rule"] == "domestic"
    account.refresh_from_db()
    after = _setup_fee(account)
    assert after.items.get().vat_category == VatCategory.REVERSE_CHARGE


def test_credits_and_refunds_keep_the_treatment_of_the_invoice_they_correct(
    eu_seller: None,
) -> None:
    account = _fr_business()
    original = _setup_fee(account)
    # The account's number is found invalid afterwards: the correction still reverse-charges.
    Account.objects.filter(pk=account.pk).update(tax_id_status=TaxIdStatus.INVALID, tax_id="")
    credit = invoice_issue_credit(original=original, amount=D("40.00"), reason="SLA")
    assert credit.items.get().vat_category == VatCategory.REVERSE_CHARGE
    assert (credit.tax_note, credit.buyer_tax_id) == (TaxNote.REVERSE_CHARGE, FR_VAT)
    assert credit.total == D("-40.00")
    assert credit.tax_evidence["corrects"] == original.number


def test_a_credit_of_a_taxed_invoice_gives_back_its_total_with_the_same_rate(
    eu_seller: None,
) -> None:
    account = AccountFactory(country="DE", currency="EUR")
    original = _setup_fee(account, "99.99")
    assert original.total == D("118.99")  # 99.99 + 19.00 (18.9981)
    credit = invoice_issue_credit(original=original, amount=original.total, reason="Cancelled")
    item = credit.items.get()
    assert (item.vat_category, item.vat_rate) == (VatCategory.STANDARD, D(19))
    assert (credit.subtotal, credit.tax, credit.total) == (D("-99.99"), D("-19.00"), D("-118.99"))
    original.refresh_from_db()
    assert original.balance == 0


def test_a_refund_keeps_the_rate_and_never_gives_back_more_than_asked(eu_seller: None) -> None:
    account = AccountFactory(country="DE", currency="EUR")
    original = _setup_fee(account, "10.00")
    with transaction.atomic():
        invoice_apply_payment(invoice=original, amount=original.total, currency="EUR")
    refund = invoice_issue_refund(original=original, amount=D("5.95"), reason="Returned")
    assert refund.items.get().vat_rate == D(19)
    assert refund.total == D("-5.95")  # 5.00 + 0.95
    assert refund.tax == D("-0.95")


def test_issuing_without_a_rate_for_the_day_fails_clearly_and_issues_nothing(
    eu_seller: None,
) -> None:
    account = AccountFactory(country="DE", currency="EUR")
    with pytest.raises(InvoiceError, match="No standard tax rate of DE"):
        invoice_issue_one_time(
            account=account,
            items=[ItemSpec(description="Old", unit_price=D(1))],
            issue_date=date(2020, 1, 1),
        )
    assert not Invoice.objects.exists()


def test_the_default_seller_outside_the_eu_charges_nothing(account: Account) -> None:
    invoice = _setup_fee(account)
    assert (invoice.tax, invoice.total) == (D(0), D("100.00"))
    assert invoice.items.get().vat_category == VatCategory.OUTSIDE_SCOPE
    assert invoice.tax_note == TaxNote.NOT_CHARGED


def test_a_chinese_buyers_code_and_invoice_title_are_carried_on_the_invoice(
    account: Account,
) -> None:
    SellerTaxCountry.objects.create(country="CN", kind=RateKind.TELECOM)
    Account.objects.filter(pk=account.pk).update(
        tax_id_kind=TaxIdKind.CN_USCC,
        tax_id="91310115MA1K4ABCDD",
        invoice_title="上海云帆科技有限公司",
        tax_id_status=TaxIdStatus.VALID,
    )
    account.refresh_from_db()
    invoice = _setup_fee(account, "800.00", currency="CNY")
    assert (invoice.tax, invoice.total) == (D("48.00"), D("848.00"))
    assert invoice.buyer_tax_id == "91310115MA1K4ABCDD"
    assert invoice.buyer_tax_id_kind == TaxIdKind.CN_USCC
    assert invoice.buyer_invoice_title == "上海云帆科技有限公司"


def test_the_demo_seller_gives_the_demo_customers_invoices_chinas_6_percent(
    demo: Account,
) -> None:
    cny = Invoice.objects.filter(account=demo, currency="CNY", type=Invoice.Type.ONE_TIME)
    assert cny.count() == 2
    for invoice in cny:
        assert invoice.tax_rate == D(6)
        assert invoice.tax > 0
        assert set(invoice.items.values_list("vat_category", flat=True)) == {"S"}
