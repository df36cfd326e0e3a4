"""The Chinese catalog keeps the source page's terms, writes 账 for accounts and bills, and
punctuates Chinese sentences with full-width marks.

The source page is the IBM Cloud (SoftLayer) customer portal's "付款" (Payments) page in
Chinese (docs/architecture.md, "The source document"). Its terms are quoted below with the
section each comes from; the page writes 帐 (帐户, 帐单地址), which the 2013 通用规范汉字表
keeps for cloth (帐篷, 蚊帐): the catalog writes 账, so the terms are compared with 帐 as 账.
"""

from __future__ import annotations

import re
from pathlib import Path

import polib
import pytest
from django.utils import translation
from django.utils.translation import gettext

from invoices.models import Invoice

MO = Path(__file__).resolve().parents[2] / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.mo"

# English msgid -> the source page's own words, and where on the page they are.
SOURCE_TERMS = {
    # 查看发票: "每张发票都按“发票编号”、“日期”、“发票类型”和各种货币余额列出摘要信息"
    "Invoice number": "发票编号",
    "Date": "日期",
    "Type": "发票类型",
    # 查看发票, the invoice types (<dt> of the list that follows)
    "New": "新发票",
    "Recurring": "周期性",
    "One-time": "一次性费用",
    "Credit": "信用值",
    "Refund": "退款",
    # 查看发票: "从菜单中选择帐户 > 记帐 > 发票"
    "Account": "帐户",
    "Invoices": "发票",
    # 查看发票: "计费项目的逐项列记列表", "每个计费项目的逐项列记摘要"
    "Billing items": "计费项目",
    "Itemised summary": "逐项列记摘要",
    # 查看发票: "其中包括当前余额和估计的下一次余额"
    "Current balance": "当前余额",
    # 添加付款方式: "帐户 > 记帐 > 付款方式", "帐单地址部分", "使用公司信息复选框",
    # "付款信息部分", "单击添加信用卡", "选择欧盟支持", "每月付款方式"
    "Payment Methods": "付款方式",
    "Billing Address": "帐单地址",
    "Use company information": "使用公司信息",
    "Payment Information": "付款信息",
    "Add Credit Card": "添加信用卡",
    "EU Supported": "欧盟支持",
    "Monthly payment method": "每月付款方式",
    # 一次性付款: "转至帐户 > 付款", "单击支付余额", "在付款金额字段中", "信用卡号、到期日期和安全
    # 代码", "在信用卡帐单地址部分", "单击使用信用卡付款"
    "Payments": "付款",
    "Pay Balance": "支付余额",
    "Payment Amount": "付款金额",
    "Card number": "信用卡号",
    "Security code": "安全代码",
    "Credit Card Billing Address": "信用卡帐单地址",
    "Pay with Credit Card": "使用信用卡付款",
    "PayPal": "PayPal",
}

# Placeholders, links and markup are not Chinese text; a placeholder stands for a word of
# the sentence, so it counts as a Chinese character next to a mark.
_PLACEHOLDER = re.compile(r"%\(\w+\)[sd]|%%|%[sd]|\{\w*\}")
_NOT_TEXT = re.compile(r"https?://\S+|<[^>]+>")
_CJK = re.compile(r"[\u3000-\u303f\u3400-\u9fff\uff00-\uffef“”]")
_HALF_WIDTH = ":?!,()"


def _chinese(msgstr: str) -> bool:
    return bool(re.search(r"[\u3400-\u9fff]", msgstr))


def half_width_marks(text: str) -> list[str]:
    """The half-width marks of `text` that touch Chinese (spaces aside), with their context."""
    text = _PLACEHOLDER.sub("字", _NOT_TEXT.sub(" ", text))
    found = []
    for index, char in enumerate(text):
        if char not in _HALF_WIDTH:
            continue
        before, after = text[:index].rstrip()[-1:], text[index + 1 :].lstrip()[:1]
        if _CJK.fullmatch(before or "x") or _CJK.fullmatch(after or "x"):
            found.append(text[max(0, index - 6) : index + 7])
    return found


def _catalog() -> list[tuple[str, str]]:
    entries = []
    for entry in polib.mofile(str(MO)):
        texts = entry.msgstr_plural.values() if entry.msgid_plural else [entry.msgstr]
        entries.extend((entry.msgid, text) for text in texts if text)
    return entries


@pytest.mark.parametrize(("msgid", "term"), SOURCE_TERMS.items())
def test_the_catalog_says_what_the_source_page_says(msgid: str, term: str) -> None:
    with translation.override("zh-hans"):
        assert gettext(msgid) == term.replace("帐", "账")


def test_the_half_width_check_finds_marks_between_chinese_and_leaves_the_rest() -> None:
    assert half_width_marks("发票编号: %(number)s") == ["发票编号: 字"]
    assert half_width_marks("您要付款?") and half_width_marks("当前余额 (%(currency)s)")
    assert half_width_marks("已开具 %(number)s, 请查收") and half_width_marks("好!")
    assert half_width_marks("于 7:41 到期，见 https://example.com/a?b=c") == []
    assert half_width_marks("发票 %(number)s（%(type)s）：PDF (A4)") == []


def test_no_chinese_sentence_has_half_width_punctuation() -> None:
    bad = {msgid: marks for msgid, text in _catalog() if (marks := half_width_marks(text))}
    assert bad == {}


def test_accounts_and_bills_are_written_with_账() -> None:
    assert [text for _msgid, text in _catalog() if "帐" in text] == []


def test_no_invoice_type_is_followed_by_the_word_invoice_again() -> None:
    with translation.override("zh-hans"):
        for invoice_type in Invoice.Type:
            subject = gettext("%(type)s invoice %(number)s") % {
                "type": invoice_type.label,
                "number": "INV-000001",
            }
            assert "发票发票" not in subject
            assert subject == f"发票 INV-000001（{invoice_type.label}）"


def test_paid_in_full_is_not_the_label_of_an_amount() -> None:
    with translation.override("zh-hans"):
        assert gettext("Amount paid") == "已付金额"
        assert "付清" not in gettext("Paid")
        assert gettext("Pending") == "待处理"
        assert gettext("Remove") == "移除"
        assert gettext("Billing summary") == "账单摘要"
        assert gettext("Billing portal") == "账单门户"
