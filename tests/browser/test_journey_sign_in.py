from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from accounts.models import Account
from tests.browser.accessibility import assert_accessible
from tests.browser.conftest import sign_in

pytestmark = pytest.mark.django_db(transaction=True)


def test_demo_customer_signs_in_and_finds_the_menu_in_english_and_chinese(
    page: Page, demo: Account
) -> None:
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/login/\?next=/$"))
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    assert_accessible(page)

    sign_in(page, "demo@example.com", "demo-pass-2026")

    menu = page.get_by_role("navigation", name="Main menu")
    for label in ("Invoices", "Payment Methods", "Payments", "Settings"):
        expect(menu.get_by_role("link", name=label, exact=True)).to_be_visible()
    expect(page.get_by_test_id("account-name")).to_have_text("上海云帆科技有限公司")
    expect(page.get_by_test_id("user-email")).to_have_text("demo@example.com")

    page.get_by_label("Language").select_option("zh-hans")
    page.get_by_role("button", name="Change").click()

    menu = page.get_by_role("navigation", name="主菜单")
    for label in ("发票", "付款方式", "付款", "设置"):
        expect(menu.get_by_role("link", name=label, exact=True)).to_be_visible()
    expect(page.locator("html")).to_have_attribute("lang", "zh-hans")

    menu.get_by_role("link", name="设置", exact=True).click()
    expect(page.get_by_role("heading", name="公司信息")).to_be_visible()
    expect(page.get_by_label("公司名称")).to_have_value("上海云帆科技有限公司")
    assert_accessible(page)

    page.get_by_role("button", name="退出").click()
    expect(page.get_by_role("heading", name="登录")).to_be_visible()


def test_a_wrong_password_is_refused_with_a_clear_error(page: Page, demo: Account) -> None:
    sign_in(page, "demo@example.com", "not-my-password")
    expect(page.get_by_test_id("login-error")).to_contain_text(
        "Please enter a correct email address and password."
    )
    expect(page.get_by_label("Email address")).to_have_value("demo@example.com")
    assert_accessible(page)


def test_the_menu_is_reachable_by_keyboard(page: Page, demo: Account) -> None:
    sign_in(page, "demo@example.com", "demo-pass-2026")
    expect(page.get_by_role("heading", name="Invoices", exact=True)).to_be_visible()
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to main content")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("main")).to_be_focused()


def test_another_accounts_customer_never_sees_the_demo_account(page: Page, demo: Account) -> None:
    sign_in(page, "other@example.com", "other-pass-2026")
    expect(page.get_by_test_id("account-name")).to_have_text("Northwind Hosting Ltd")
    page.goto("/account/settings/")
    expect(page.get_by_label("Company name")).to_have_value("Northwind Hosting Ltd")
    expect(page.get_by_text("上海云帆科技有限公司")).to_have_count(0)
