"""The team against its own members and strangers: only an owner changes it, by any URL;
another account's rows are a 404; the last owner stays, even when two owners step down at
once; an invitation link works once, even clicked twice at once, and leaks nowhere."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.test import Client

from accounts.models import Account, Invitation, Membership, User
from accounts.team import (
    TeamError,
    team_accept_as_new_user,
    team_change_role,
    team_invite,
    team_remove,
)
from tests.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db
Role = Membership.Role
PASSWORD = "a long enough passphrase 2026"


@pytest.fixture
def billing(account: Account) -> User:
    user = UserFactory(email="billing@example.com")
    MembershipFactory(user=user, account=account, role=Role.BILLING)
    return user


def test_a_billing_member_changes_nothing_in_the_team_by_posting_directly(
    client: Client, account: Account, owner: User, billing: User, viewer: User
) -> None:
    sent = team_invite(account=account, by=owner, email="open@example.com", role="viewer")
    theirs = Membership.objects.get(user=viewer)
    mine = Membership.objects.get(user=billing)
    client.force_login(billing)
    assert (
        client.post(
            "/account/team/invite/", {"email": "x@example.com", "role": "owner"}
        ).status_code
        == 403
    )
    assert client.post(f"/account/team/{mine.pk}/role/", {"role": "owner"}).status_code == 403
    assert client.post(f"/account/team/{theirs.pk}/remove/").status_code == 403
    assert client.post(f"/account/team/invitations/{sent.invitation.pk}/revoke/").status_code == 403
    assert client.post("/account/security/", {"require_two_factor": "on"}).status_code == 403
    assert Membership.objects.get(pk=mine.pk).role == Role.BILLING
    assert Membership.objects.filter(pk=theirs.pk).exists()
    assert Invitation.objects.get(pk=sent.invitation.pk).revoked_at is None
    assert Invitation.objects.count() == 1


def test_another_accounts_invitation_is_a_404(
    owner_client: Client, other_account: Account, stranger: User
) -> None:
    sent = team_invite(account=other_account, by=stranger, email="t@example.com", role="viewer")
    response = owner_client.post(f"/account/team/invitations/{sent.invitation.pk}/revoke/")
    assert response.status_code == 404
    assert Invitation.objects.get(pk=sent.invitation.pk).revoked_at is None


def test_a_role_that_does_not_exist_is_refused(
    owner_client: Client, account: Account, owner: User, viewer: User
) -> None:
    theirs = Membership.objects.get(user=viewer)
    assert (
        owner_client.post(f"/account/team/{theirs.pk}/role/", {"role": "admin"}).status_code == 400
    )
    with pytest.raises(TeamError):
        team_change_role(account=account, by=owner, membership_id=theirs.pk, role="superuser")
    with pytest.raises(TeamError):
        team_invite(account=account, by=owner, email="r@example.com", role="staff")
    assert Membership.objects.get(pk=theirs.pk).role == Role.VIEWER


def test_a_member_whose_address_is_kept_in_capitals_is_not_invited_again(
    account: Account, owner: User
) -> None:
    member = UserFactory(email="Mixed.Case@Example.com")
    MembershipFactory(user=member, account=account, role=Role.VIEWER)
    with pytest.raises(TeamError, match="already a member"):
        team_invite(account=account, by=owner, email="mixed.case@example.com", role="owner")
    assert not Invitation.objects.exists()


def test_an_invitation_is_accepted_only_by_the_user_of_a_differently_written_address(
    account: Account, owner: User
) -> None:
    """An address kept as `Taken@Example.com` has a user: the link does not make a second
    user for `taken@example.com`."""
    UserFactory(email="Taken@Example.com")
    sent = team_invite(account=account, by=owner, email="taken@example.com", role="owner")
    with pytest.raises(TeamError, match="has a user already"):
        team_accept_as_new_user(token=sent.token, full_name="", password=PASSWORD)
    assert User.objects.filter(email__iexact="taken@example.com").count() == 1


def test_the_invitation_page_sends_its_link_to_no_one_else(
    client: Client, account: Account, owner: User
) -> None:
    """The link's token is in the page's address: a Referer carries only the origin, and the
    page loads nothing from elsewhere."""
    sent = team_invite(account=account, by=owner, email="ref@example.com", role="viewer")
    page = client.get(f"/account/invitation/{sent.token}/")
    assert page.status_code == 200
    assert page["Referrer-Policy"] == "strict-origin"
    html = page.content.decode()
    assert "http://" not in html.replace("http://www.w3.org", "") and "https://" not in html


# At the same moment (threads, each with its own connection to PostgreSQL) ----------------


def _at_once(*calls: Callable[[], object]) -> list[object]:
    """Run `calls` together; each one's result or exception."""
    results: list[object] = [None] * len(calls)
    start = threading.Barrier(len(calls))

    def run(i: int, call: Callable[[], object]) -> None:
        try:
            start.wait()
            results[i] = call()
        except Exception as error:  # kept for the test to look at
            results[i] = error
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


@pytest.mark.django_db(transaction=True)
def test_two_owners_stepping_down_at_once_leave_one_owner(
    account: Account, owner: User, viewer: User
) -> None:
    mine = Membership.objects.get(user=owner)
    theirs = Membership.objects.get(user=viewer)
    Membership.objects.filter(pk=theirs.pk).update(role=Role.OWNER)
    for _round in range(3):
        _at_once(
            lambda: team_change_role(
                account=account, by=owner, membership_id=theirs.pk, role="viewer"
            ),
            lambda: team_change_role(
                account=account, by=viewer, membership_id=mine.pk, role="viewer"
            ),
        )
        assert Membership.objects.filter(account=account, role=Role.OWNER).count() == 1
        Membership.objects.filter(pk__in=[mine.pk, theirs.pk]).update(role=Role.OWNER)
    results = _at_once(
        lambda: team_remove(account=account, by=owner, membership_id=theirs.pk),
        lambda: team_remove(account=account, by=viewer, membership_id=mine.pk),
    )
    assert Membership.objects.filter(account=account, role=Role.OWNER).count() == 1
    assert sum(isinstance(r, PermissionDenied | TeamError) for r in results) == 1


@pytest.mark.django_db(transaction=True)
def test_an_invitation_clicked_twice_at_once_makes_one_user(account: Account, owner: User) -> None:
    sent = team_invite(account=account, by=owner, email="twice@example.com", role="billing")

    def accept() -> object:
        return team_accept_as_new_user(token=sent.token, full_name="", password=PASSWORD)

    results = _at_once(accept, accept)
    assert sum(isinstance(r, TeamError) for r in results) == 1, results
    assert User.objects.filter(email="twice@example.com").count() == 1
    assert Membership.objects.filter(account=account, user__email="twice@example.com").count() == 1


def test_whether_an_address_has_a_user_is_answered_as_sign_in_answers_it(
    account: Account, owner: User, viewer: User
) -> None:
    """`vıewer@` (dotless ı) upper-cases to `VIEWER@`, but sign-in does not take it for
    viewer@example.com: the invitation does not either, so its invitee joins as a user of
    their own instead of being told to sign in as someone else."""
    sent = team_invite(account=account, by=owner, email="vıewer@example.com", role="viewer")
    _membership, joined = team_accept_as_new_user(token=sent.token, full_name="", password=PASSWORD)
    assert joined != viewer
    assert User.objects.get_by_natural_key("vıewer@example.com") == joined
    assert User.objects.get_by_natural_key("viewer@example.com") == viewer
