from __future__ import annotations

import pytest
from django.core.management import call_command

from accounts.models import Account, Membership, User

pytestmark = pytest.mark.django_db


def test_seed_demo_creates_the_demo_cast_and_is_idempotent() -> None:
    call_command("seed_demo")
    call_command("seed_demo")

    assert User.objects.count() == 3
    assert Account.objects.count() == 2
    demo = User.objects.get(email="demo@example.com")
    assert demo.check_password("demo-pass-2026")
    membership = Membership.objects.get(user=demo)
    assert membership.role == Membership.Role.OWNER
    assert membership.account.company_name == "上海云帆科技有限公司"
    assert membership.account.country.code == "CN"

    rep = User.objects.get(email="rep@example.com")
    assert rep.is_staff
    assert rep.check_password("rep-pass-2026")
    assert not rep.memberships.exists()

    other = User.objects.get(email="other@example.com")
    assert other.memberships.get().account != membership.account
