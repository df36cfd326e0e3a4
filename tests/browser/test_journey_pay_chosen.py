"""J7: pay the invoices you choose (with the saved card, or a new card from an invoice's page)
and see what is overdue, in a real browser on the demo data, in English and in Chinese."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

import pytest
from django.conf import settings
from django.utils import timezone
from playwright.sync_api import Page, expect

from accounts.models import Account
from invoices.models import Invoice
from invoices.services import ItemSpec, invoice_issue_one_time
from payments.models import Payment, PaymentMethod
from tests.browser.accessibility import assert_accessible
from tests.browser.conftest import fill_card, sign_in

pytestmark = pytest.mark.django_db(transaction=True)


@dataclass(frozen=True)
class Words:
    """What the customer reads and presses, in one language."""

    language: str
    invoices: str
    tick: str  # the label of an invoice's checkbox, with {number}
    pay_selected: str
    saved_card: str
    pay_this_invoice: str
    use_company_info: str
    pay_with_card: str
    thank_you: str
    paid: str
    overdue_12: str
    status: str
    overdue: str
    filter: str


EN = Words(
    language="en",
    invoices="Invoices",
    tick="Pay {number}",
    pay_selected="Pay selected",
    saved_card="Pay with Visa •••• 4242",
    pay_this_invoice="Pay this invoice",
    use_company_info="Use company information",
    pay_with_card="Pay with Credit Card",
    thank_you="Thank you: your payment was received",
    paid="Paid",
    overdue_12="Overdue · 12 days",
    status="Status",
    overdue="Overdue",
    filter="Filter",
)
ZH = Words(
    language="zh-hans",
    invoices="发票",
    tick="支付 {number}",
    pay_selected="支付所选发票",
    saved_card="使用 Visa •••• 4242 付款",
    pay_this_invoice="支付此发票",
    use_company_info="使用公司信息",
    pay_with_card="使用信用卡付款",
    thank_you="谢谢：您的付款已收到",
    paid="已付款",
    overdue_12="已逾期 · 12 天",
    status="状态",
    overdue="已逾期",
    filter="筛选",
)


def _sign_in(page: Page, words: Words) -> None:
    sign_in(page, "demo@example.com", "demo-pass-2026")
    if words.language != "en":
        page.get_by_label("Language").select_option(words.language)
        page.get_by_role("button", name="Change").click()
    expect(page.get_by_role("heading", name=words.invoices, exact=True)).to_be_visible()


def _issue(account: Account, amount: str, days_ago: int = 0) -> Invoice:
    """A One-time invoice issued `days_ago` days ago: newer than the demo's open ones, so that
    paying oldest first would not pay it."""
    return invoice_issue_one_time(
        account=account,
        issue_date=timezone.localdate() - timedelta(days=days_ago),
        items=[ItemSpec(description="Additional IPv4 block", unit_price=Decimal(amount))],
    )


def _open_before(account: Account, *mine: Invoice) -> list[tuple[int, Decimal]]:
    return list(
        Invoice.objects.filter(account=account, state=Invoice.State.OPEN)
        .exclude(pk__in=[invoice.pk for invoice in mine])
        .order_by("pk")
        .values_list("pk", "balance")
    )


@pytest.mark.parametrize("words", [EN, ZH], ids=["en", "zh"])
def test_pay_two_chosen_invoices_with_the_saved_card(
    page: Page, demo: Account, words: Words
) -> None:
    first, second = _issue(demo, "31.00"), _issue(demo, "17.50")
    others = _open_before(demo, first, second)
    assert others, "the demo has older open invoices that oldest-first would pay"
    card = PaymentMethod.objects.get(account=demo, is_monthly=True)
    card_before = PaymentMethod.objects.filter(pk=card.pk).values().get()

    _sign_in(page, words)
    page.get_by_label(words.tick.format(number=first.number), exact=True).check()
    page.get_by_label(words.tick.format(number=second.number), exact=True).check()
    assert_accessible(page)
    page.get_by_role("button", name=words.pay_selected).click()

    chosen = page.get_by_test_id("chosen-invoices")
    expect(chosen.locator("tbody tr")).to_have_count(2)
    expect(chosen).to_contain_text(first.number)
    expect(chosen).to_contain_text(second.number)
    # The demo's customer pays VAT (China's 6%): the amount is the invoices' totals with it.
    total = first.total + second.total
    expect(page.get_by_test_id("chosen-total")).to_contain_text(f"{total:,.2f}")
    expect(page.locator("#id_amount")).to_have_value(f"{total:.2f}")
    # The saved card is the first way to pay.
    buttons = page.locator("#payment-form button[type=submit]")
    expect(buttons.first).to_have_text(words.saved_card)
    assert_accessible(page)
    page.get_by_role("button", name=words.saved_card).click()

    expect(page.get_by_test_id("payment-result")).to_have_text(words.thank_you)
    allocations = page.get_by_test_id("payment-allocations").locator("tbody tr")
    expect(allocations).to_have_count(2)
    expect(page.get_by_test_id("payment-allocations")).to_contain_text(first.number)
    expect(page.get_by_test_id("payment-allocations")).to_contain_text(second.number)
    assert_accessible(page)

    page.goto("/billing/invoices/")
    expect(page.get_by_test_id(f"status-{first.number}")).to_have_text(words.paid)
    expect(page.get_by_test_id(f"status-{second.number}")).to_have_text(words.paid)
    # Exactly those two: nothing else was paid, and the card is as it was.
    assert _open_before(demo, first, second) == others
    payment = Payment.objects.get(account=demo, method=Payment.Method.CARD_ON_FILE)
    assert payment.payment_method_id == card.pk and payment.amount == total
    assert PaymentMethod.objects.filter(pk=card.pk).values().get() == card_before


@pytest.mark.parametrize("words", [EN, ZH], ids=["en", "zh"])
def test_pay_one_invoice_from_its_page_with_a_new_card(
    page: Page, demo: Account, words: Words
) -> None:
    invoice = _issue(demo, "64.00")
    others = _open_before(demo, invoice)
    cards = PaymentMethod.objects.count()

    _sign_in(page, words)
    page.goto(f"/billing/invoices/{invoice.pk}/")
    page.get_by_role("link", name=words.pay_this_invoice).click()

    expect(page.get_by_test_id("chosen-invoices").locator("tbody tr")).to_have_count(1)
    expect(page.locator("#id_amount")).to_have_value(f"{invoice.total:.2f}")
    page.get_by_label(words.use_company_info).check()
    if words.language == "en":
        fill_card(page, "5555 5555 5555 4444")
    else:
        frame = page.frame_locator("#card-fields-frame")
        frame.get_by_label("持卡人").fill("WANG XIAOMING")
        frame.get_by_label("信用卡号").fill("5555 5555 5555 4444")
        frame.get_by_label("到期日期（月/年）").fill("12/30")
        frame.get_by_label("安全代码").fill("123")
    page.get_by_role("button", name=words.pay_with_card).click()

    expect(page.get_by_test_id("payment-result")).to_have_text(words.thank_you)
    allocations = page.get_by_test_id("payment-allocations").locator("tbody tr")
    expect(allocations).to_have_count(1)
    expect(allocations.first).to_contain_text(invoice.number)
    assert_accessible(page)
    invoice.refresh_from_db()
    assert invoice.state == Invoice.State.PAID
    assert _open_before(demo, invoice) == others
    # Paid once: the new card is not kept.
    assert PaymentMethod.objects.count() == cards


@pytest.mark.parametrize("words", [EN, ZH], ids=["en", "zh"])
def test_an_overdue_invoice_shows_as_overdue_with_its_days(
    page: Page, demo: Account, words: Words
) -> None:
    late = _issue(demo, "12.00", days_ago=12 + settings.INVOICE_PAYMENT_TERMS_DAYS)

    _sign_in(page, words)
    page.get_by_label(words.status).select_option("overdue")
    page.get_by_role("button", name=words.filter).click()

    expect(page.get_by_test_id(f"status-{late.number}")).to_have_text(words.overdue_12)
    statuses = page.get_by_test_id("invoice-table").locator("tbody [data-testid^=status-]")
    for text in statuses.all_inner_texts():
        assert text.startswith(words.overdue)
    expect(page.get_by_test_id("overdue-USD")).to_be_visible()
    assert_accessible(page)

    page.goto(f"/billing/invoices/{late.pk}/")
    expect(page.get_by_test_id("invoice-status")).to_have_text(words.overdue_12)
