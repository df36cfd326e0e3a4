"""The account's team: invitations by email with a role, roles changed, members removed;
always an owner; every change in the activity and emailed to the owners."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied
from django.test import Client
from django.utils import timezone

from accounts.models import Account, AuditEntry, Invitation, Membership, OutboundEmail, User
from accounts.team import (
    TeamError,
    team_accept,
    team_accept_as_new_user,
    team_change_role,
    team_invite,
    team_remove,
    team_revoke,
)

pytestmark = pytest.mark.django_db
Role = Membership.Role
PASSWORD = "a long enough passphrase 2026"


def _link_token(email: OutboundEmail) -> str:
    match = re.search(r"/account/invitation/([\w-]+)/", email.body)
    assert match, email.body
    return match.group(1)


def test_an_owner_invites_by_email_and_the_link_is_emailed_once(
    account: Account, owner: User
) -> None:
    sent = team_invite(account=account, by=owner, email="  New.Person@Example.com ", role="billing")
    invitation = sent.invitation
    assert (invitation.email, invitation.role) == ("new.person@example.com", Role.BILLING)
    assert invitation.token_hash != sent.token and sent.token not in invitation.token_hash
    assert abs(invitation.expires_at - invitation.created_at - timedelta(days=7)) < timedelta(
        seconds=5
    )
    email = OutboundEmail.objects.get(key=f"accounts.invitation.{invitation.pk}")
    assert email.to == ["new.person@example.com"]
    assert _link_token(email) == sent.token
    assert AuditEntry.objects.filter(action="accounts.team.invited", actor=owner).exists()
    told = OutboundEmail.objects.get(key=f"accounts.team.invited.{invitation.pk}")
    assert owner.email in told.to and "new.person@example.com" in told.body


def test_only_an_owner_changes_the_team(account: Account, viewer: User, owner: User) -> None:
    with pytest.raises(PermissionDenied):
        team_invite(account=account, by=viewer, email="x@example.com", role="viewer")
    membership = Membership.objects.get(user=owner)
    with pytest.raises(PermissionDenied):
        team_change_role(account=account, by=viewer, membership_id=membership.pk, role="viewer")
    with pytest.raises(PermissionDenied):
        team_remove(account=account, by=viewer, membership_id=membership.pk)
    assert not Invitation.objects.exists()


def test_a_member_is_not_invited_again(account: Account, owner: User, viewer: User) -> None:
    with pytest.raises(TeamError, match="already a member"):
        team_invite(account=account, by=owner, email=viewer.email.upper(), role="billing")


def test_a_new_person_accepts_with_a_password_once(account: Account, owner: User) -> None:
    sent = team_invite(account=account, by=owner, email="new@example.com", role="billing")
    membership, user = team_accept_as_new_user(
        token=sent.token, full_name="Li Na", password=PASSWORD
    )
    assert (membership.account, membership.role, user.email) == (
        account,
        Role.BILLING,
        "new@example.com",
    )
    assert user.check_password(PASSWORD)
    with pytest.raises(TeamError, match="already accepted"):
        team_accept(token=sent.token, user=user)
    assert Membership.objects.filter(account=account).count() == 2
    assert OutboundEmail.objects.filter(key=f"accounts.team.joined.{sent.invitation.pk}").exists()


def test_an_existing_user_accepts_signed_in_as_the_invited_address(
    account: Account, owner: User, stranger: User
) -> None:
    sent = team_invite(account=account, by=owner, email=stranger.email, role="viewer")
    with pytest.raises(TeamError, match="has a user already"):
        team_accept_as_new_user(token=sent.token, full_name="", password=PASSWORD)
    someone_else = User.objects.create_user(email="else@example.com", password=PASSWORD)
    with pytest.raises(TeamError, match="Sign in with that address"):
        team_accept(token=sent.token, user=someone_else)
    membership = team_accept(token=sent.token, user=stranger)
    assert membership.role == Role.VIEWER
    # Still in their own account too: they switch between them.
    assert stranger.memberships.count() == 2


def test_an_expired_withdrawn_or_replaced_link_does_nothing(account: Account, owner: User) -> None:
    expired = team_invite(account=account, by=owner, email="a@example.com", role="viewer")
    Invitation.objects.filter(pk=expired.invitation.pk).update(
        expires_at=timezone.now() - timedelta(minutes=1)
    )
    with pytest.raises(TeamError, match="expired"):
        team_accept_as_new_user(token=expired.token, full_name="", password=PASSWORD)

    withdrawn = team_invite(account=account, by=owner, email="b@example.com", role="viewer")
    team_revoke(account=account, by=owner, invitation_id=withdrawn.invitation.pk)
    with pytest.raises(TeamError, match="withdrawn"):
        team_accept_as_new_user(token=withdrawn.token, full_name="", password=PASSWORD)

    first = team_invite(account=account, by=owner, email="c@example.com", role="viewer")
    second = team_invite(account=account, by=owner, email="c@example.com", role="billing")
    with pytest.raises(TeamError, match="withdrawn"):
        team_accept_as_new_user(token=first.token, full_name="", password=PASSWORD)
    membership, _user = team_accept_as_new_user(token=second.token, full_name="", password=PASSWORD)
    assert membership.role == Role.BILLING

    with pytest.raises(TeamError, match="not valid"):
        team_accept_as_new_user(token="forged", full_name="", password=PASSWORD)
    assert not User.objects.filter(email__in=["a@example.com", "b@example.com"]).exists()


def test_a_weak_password_is_refused_and_nothing_is_created(account: Account, owner: User) -> None:
    from django.core.exceptions import ValidationError

    sent = team_invite(account=account, by=owner, email="weak@example.com", role="viewer")
    with pytest.raises(ValidationError):
        team_accept_as_new_user(token=sent.token, full_name="", password="123")
    assert not User.objects.filter(email="weak@example.com").exists()
    Invitation.objects.get(pk=sent.invitation.pk, accepted_at__isnull=True)


def test_an_account_always_keeps_an_owner(account: Account, owner: User, viewer: User) -> None:
    mine = Membership.objects.get(user=owner, account=account)
    with pytest.raises(TeamError, match="at least one owner"):
        team_change_role(account=account, by=owner, membership_id=mine.pk, role="viewer")
    with pytest.raises(TeamError, match="at least one owner"):
        team_remove(account=account, by=owner, membership_id=mine.pk)
    theirs = Membership.objects.get(user=viewer, account=account)
    team_change_role(account=account, by=owner, membership_id=theirs.pk, role="owner")
    # Two owners now: either may step down or leave.
    team_change_role(account=account, by=viewer, membership_id=mine.pk, role="billing")
    assert Membership.objects.get(pk=mine.pk).role == Role.BILLING
    with pytest.raises(TeamError, match="at least one owner"):
        team_remove(account=account, by=viewer, membership_id=theirs.pk)


def test_every_change_is_in_the_activity_and_emailed_to_the_owners(
    account: Account, owner: User, viewer: User
) -> None:
    theirs = Membership.objects.get(user=viewer, account=account)
    team_change_role(account=account, by=owner, membership_id=theirs.pk, role="billing")
    team_remove(account=account, by=owner, membership_id=theirs.pk)
    actions = list(
        AuditEntry.objects.filter(account=account).order_by("pk").values_list("action", flat=True)
    )
    assert actions == ["accounts.team.role_changed", "accounts.team.removed"]
    bodies = [e.body for e in OutboundEmail.objects.filter(key__startswith="accounts.team.")]
    assert any("from Viewer to Billing" in body for body in bodies)
    assert any(f"removed {viewer.email}" in body for body in bodies)
    assert not Membership.objects.filter(pk=theirs.pk).exists()


def test_the_owners_are_told_in_the_accounts_language(account: Account, owner: User) -> None:
    account.language = "zh-hans"
    account.save(update_fields=["language"])
    team_invite(account=account, by=owner, email="zh@example.com", role="billing")
    told = OutboundEmail.objects.get(key__startswith="accounts.team.invited.")
    invite = OutboundEmail.objects.get(key__startswith="accounts.invitation.")
    assert "邀请" in told.body and "团队" in told.subject
    assert "受邀" in invite.subject and "邀请" in invite.body


# The pages -------------------------------------------------------------------------------


def test_the_settings_page_lets_owners_manage_the_team_and_others_only_see_it(
    owner_client: Client, account: Account, viewer: User
) -> None:
    page = owner_client.get("/account/settings/").content.decode()
    assert "Send invitation" in page and "Change role" in page
    response = owner_client.post(
        "/account/team/invite/", {"email": "joiner@example.com", "role": "billing"}
    )
    assert response.status_code == 302
    page = owner_client.get("/account/settings/").content.decode()
    assert "An invitation was sent to joiner@example.com." in page
    assert "joiner@example.com" in page and "Team activity" in page

    viewer_client = Client()
    viewer_client.force_login(viewer)
    page = viewer_client.get("/account/settings/").content.decode()
    assert "Send invitation" not in page and "Change role" not in page
    refused = viewer_client.post(
        "/account/team/invite/", {"email": "x@example.com", "role": "owner"}
    )
    assert refused.status_code == 403
    assert Invitation.objects.count() == 1


def test_a_bad_invitation_form_says_what_is_wrong(owner_client: Client, viewer: User) -> None:
    response = owner_client.post("/account/team/invite/", {"email": "not an email", "role": "x"})
    assert response.status_code == 400
    page = response.content.decode()
    assert "Enter a valid email address." in page and "Select a valid choice." in page
    response = owner_client.post(
        "/account/team/invite/", {"email": viewer.email, "role": "billing"}
    )
    assert response.status_code == 400 and "is already a member" in response.content.decode()


def test_another_accounts_member_is_a_404(
    owner_client: Client, other_account: Account, stranger: User
) -> None:
    theirs = Membership.objects.get(user=stranger, account=other_account)
    assert owner_client.post(f"/account/team/{theirs.pk}/remove/").status_code == 404
    assert (
        owner_client.post(f"/account/team/{theirs.pk}/role/", {"role": "viewer"}).status_code == 404
    )
    assert Membership.objects.filter(pk=theirs.pk, role=theirs.role).exists()


def test_the_invitation_link_creates_the_user_and_signs_them_in(
    client: Client, account: Account, owner: User
) -> None:
    sent = team_invite(account=account, by=owner, email="link@example.com", role="viewer")
    url = f"/account/invitation/{sent.token}/"
    page = client.get(url)
    assert page.status_code == 200 and "Choose a password" in page.content.decode()
    mismatch = client.post(url, {"password1": PASSWORD, "password2": "different"})
    assert (
        mismatch.status_code == 400 and not User.objects.filter(email="link@example.com").exists()
    )
    joined = client.post(url, {"full_name": "Link", "password1": PASSWORD, "password2": PASSWORD})
    assert joined.status_code == 302
    home = client.get("/", follow=True).content.decode()
    assert account.company_name in home
    again = client.get(url)
    assert again.status_code == 410


def test_an_unknown_link_is_a_404(client: Client) -> None:
    assert client.get("/account/invitation/nothing-here/").status_code == 404
