"""Account > Activity: what happened on the account and who did it."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import translation

from accounts.audit import (
    TEAM_INVITED,
    account_activity,
    activity_action_names,
    audit_actions,
    describe_entry_detail,
    log_action,
)
from accounts.models import Account, AuditEntry, Membership, User
from accounts.services import account_update_company_info
from payments.cards import payment_method_approve, payment_method_remove
from payments.models import Payment, PaymentMethod

if TYPE_CHECKING:
    from django.test import Client

pytestmark = pytest.mark.django_db

ACTIVITY = reverse("accounts:activity")


def _rows(client: Client) -> list[dict[str, object]]:
    response = client.get(ACTIVITY)
    assert response.status_code == 200
    return list(response.context["rows"])


def test_it_rejects_post(owner_client: Client) -> None:
    assert owner_client.post(ACTIVITY).status_code == 405


def test_it_needs_a_signed_in_user(client: Client) -> None:
    response = client.get(ACTIVITY)
    assert response.status_code == 302
    assert reverse("login") in response["Location"]


def test_a_payment_is_listed_with_who_made_it_and_the_card_brand_and_last_four(
    owner_client: Client, owner: User, account: Account, issue, pay_by_card
) -> None:
    issue(account, "120.00")
    payment = pay_by_card(account, owner, "120.00")
    assert payment.state == Payment.State.SUCCEEDED
    rows = _rows(owner_client)
    succeeded = next(r for r in rows if r["entry"].action == "payments.payment.succeeded")  # type: ignore[attr-defined]
    assert succeeded["entry"].actor == owner  # type: ignore[attr-defined]
    assert succeeded["description"] == "Payment succeeded"
    assert succeeded["detail"] == "$120.00 · Credit card · Visa •••• 4242"
    html = owner_client.get(ACTIVITY).content.decode()
    assert owner.email in html and "Visa •••• 4242" in html
    # Newest first: the payment came after the invoice it paid.
    actions = [r["entry"].action for r in rows]  # type: ignore[attr-defined]
    assert actions.index("payments.payment.succeeded") < actions.index("invoices.invoice.issued")


def test_it_reads_in_chinese(
    owner_client: Client, owner: User, account: Account, issue, pay_by_card
) -> None:
    issue(account, "120.00")
    pay_by_card(account, owner, "120.00")
    owner_client.post(reverse("set_language"), {"language": "zh-hans", "next": "/"})
    html = owner_client.get(ACTIVITY).content.decode()
    assert "账户活动" in html
    assert "付款成功" in html and "Visa •••• 4242" in html
    assert "Payment succeeded" not in html


def test_no_card_number_ever_appears_only_brand_and_last_four(
    owner_client: Client, owner: User, account: Account, issue, pay_by_card, add_card, rep: User
) -> None:
    issue(account, "60.00")
    method = add_card(account, owner, "5555555555554444")
    payment_method_approve(payment_method=method, by=rep)
    pay_by_card(account, owner, "50.00", "4242424242424242")
    pay_by_card(account, owner, "10.00", "4000000000000002")  # declined
    payment_method_remove(payment_method=PaymentMethod.objects.get(pk=method.pk), by=owner)
    html = owner_client.get(ACTIVITY).content.decode()
    for number in ("4242424242424242", "5555555555554444", "4000000000000002", "424242424242"):
        assert number not in html
    for entry in AuditEntry.objects.filter(account=account):
        assert not any(n in str(entry.data) for n in ("4242424242424242", "5555555555554444"))
    assert "Mastercard •••• 4444" in html and "Visa •••• 4242" in html and "•••• 0002" in html
    actions = {r["entry"].action for r in _rows(owner_client)}  # type: ignore[attr-defined]
    assert {
        "payments.payment_method.added",
        "payments.payment_method.verified_by_gateway",
        "payments.payment_method.approved",
        "payments.payment_method.made_monthly",
        "payments.payment_method.removed",
        "payments.payment.succeeded",
        "payments.payment.declined",
    } <= actions


def test_a_representative_is_named_by_role_and_the_system_as_such(
    owner_client: Client, owner: User, account: Account, add_card, rep: User
) -> None:
    method = add_card(account, owner)
    payment_method_approve(payment_method=method, by=rep)
    html = owner_client.get(ACTIVITY).content.decode()
    assert "Account representative" in html
    assert rep.email not in html
    # The gateway's check ran in a worker: nobody in particular did it.
    assert "The billing system" in html


def test_another_accounts_entries_never_appear(
    client: Client,
    owner_client: Client,
    owner: User,
    stranger: User,
    account: Account,
    other_account: Account,
    issue,
) -> None:
    issue(account, "77.00")
    issue(other_account, "88.00")
    mine = {r["entry"].account_id for r in _rows(owner_client)}  # type: ignore[attr-defined]
    assert mine == {account.pk}
    client.force_login(stranger)
    theirs = _rows(client)
    assert {r["entry"].account_id for r in theirs} == {other_account.pk}  # type: ignore[attr-defined]
    assert "$77.00" not in client.get(ACTIVITY).content.decode()


def test_every_user_of_the_account_sees_it(viewer_client: Client, account: Account, issue) -> None:
    invoice = issue(account)
    assert invoice.number in viewer_client.get(ACTIVITY).content.decode()


def test_staff_only_matters_stay_off_the_page() -> None:
    listed = set(activity_action_names())
    assert "payments.payment_method.escalated" not in listed
    assert "payments.gateway_customer.created" not in listed
    assert "payments.payment.succeeded" in listed
    assert "billing.autocharge.retry_scheduled" in listed


def test_settings_changes_are_recorded_with_the_fields_not_their_values(
    owner_client: Client, owner: User, account: Account
) -> None:
    account_update_company_info(account=account, by=owner, city="杭州市", phone="+86 571 0000 0000")
    entry = AuditEntry.objects.get(account=account, action="accounts.account.settings_changed")
    assert entry.actor == owner
    assert sorted(entry.data["fields"]) == ["city", "phone"]
    city, phone = (str(Account._meta.get_field(f).verbose_name) for f in ("city", "phone"))
    assert describe_entry_detail(entry) == f"{city}, {phone}"
    with translation.override("zh-hans"):
        assert describe_entry_detail(entry) == "城市、电话"
    # Saving the same values again changes nothing, and records nothing.
    account_update_company_info(account=account, by=owner, city="杭州市")
    assert AuditEntry.objects.filter(action="accounts.account.settings_changed").count() == 1
    assert "Company information or options changed" in owner_client.get(ACTIVITY).content.decode()


def test_team_changes_are_listed(owner_client: Client, owner: User, account: Account) -> None:
    membership = Membership.objects.get(account=account, user=owner)
    log_action(
        TEAM_INVITED,
        obj=membership,
        account=account,
        actor=owner,
        email="li@example.com",
        role="viewer",
    )
    [row] = [r for r in _rows(owner_client) if r["entry"].action == "accounts.team.invited"]  # type: ignore[attr-defined]
    assert row["detail"] == "li@example.com · Viewer"


def test_an_old_entry_without_the_data_still_reads(account: Account) -> None:
    entry = AuditEntry.objects.create(
        account=account,
        action="payments.payment.succeeded",
        object_type="payments.payment",
        object_id="1",
        data={"amount": "10.00"},
    )
    assert describe_entry_detail(entry) == ""


def test_every_listed_action_gives_a_description() -> None:
    for action in audit_actions():
        assert str(action.description) and str(action.description) != action.name


def test_pages_cost_the_same_queries_for_10_and_500_entries(
    owner_client: Client, owner: User, account: Account, settings: object
) -> None:
    settings.ACTIVITY_PER_PAGE = 25  # type: ignore[attr-defined]
    membership = Membership.objects.get(account=account, user=owner)

    def entries(n: int) -> None:
        AuditEntry.objects.bulk_create(
            AuditEntry(
                account=account,
                actor=owner if i % 2 else None,
                action="payments.payment.succeeded",
                object_type="payments.payment",
                object_id=str(i),
                data={
                    "amount": "10.00",
                    "currency": "USD",
                    "method": "card",
                    "brand": "visa",
                    "last4": "4242",
                },
            )
            for i in range(n)
        )

    del membership
    entries(10)
    with CaptureQueriesContext(connection) as few:
        assert owner_client.get(ACTIVITY).status_code == 200
    entries(490)
    with CaptureQueriesContext(connection) as many:
        response = owner_client.get(ACTIVITY, {"page": "3"})
    assert response.status_code == 200
    assert len(response.context["rows"]) == 25
    assert len(few) == len(many)
    assert account_activity(account).count() == 500


def test_a_page_number_out_of_range_shows_the_last_page(
    owner_client: Client, account: Account, issue, settings: object
) -> None:
    settings.ACTIVITY_PER_PAGE = 2  # type: ignore[attr-defined]
    for amount in ("1.00", "2.00", "3.00"):
        issue(account, amount)
    assert owner_client.get(ACTIVITY, {"page": "99"}).context["page"].number == 2
    assert owner_client.get(ACTIVITY, {"page": "x"}).context["page"].number == 1


def test_the_menu_links_to_it(owner_client: Client) -> None:
    html = owner_client.get(reverse("invoices:list")).content.decode()
    assert f'href="{ACTIVITY}"' in html
