"""The account's team: owners invite people by email with a role, change roles and remove
members. Every change is recorded in the account's activity and emailed to its owners; an
account always keeps at least one owner.

An invitation's link carries a random token of which only the hash is stored; it works once,
until `INVITATION_DAYS` have passed, and only for the address it was sent to: someone who
already has a user signs in as that user to accept it, and someone who has none sets the
password of the new user there (the link proves they read that mailbox).
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from .audit import (
    TEAM_INVITATION_REVOKED,
    TEAM_INVITED,
    TEAM_JOINED,
    TEAM_REMOVED,
    TEAM_ROLE_CHANGED,
    log_action,
)
from .locks import account_lock
from .models import Account, Invitation, Membership, User
from .outbox import email_queue, render_email


class TeamError(Exception):
    """What the customer is told when a team change cannot be made; nothing changed."""


@dataclass(frozen=True)
class SentInvitation:
    invitation: Invitation
    # The link's token, shown nowhere but in the email (only its hash is stored).
    token: str


def normalise_email(email: str) -> str:
    """An address as users are kept: trimmed and in lower case."""
    return User.objects.normalize_email(email.strip()).lower()


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _owner_lock(account: Account, by: User) -> tuple[Account, Membership]:
    """The account, locked, and `by`'s membership: only an owner changes the team."""
    account = account_lock(account.pk)
    membership = Membership.objects.filter(account=account, user=by).first()
    if membership is None or membership.role != Membership.Role.OWNER:
        raise PermissionDenied("Only an owner of the account may change its team.")
    return account, membership


def _owners(account: Account) -> list[str]:
    return sorted(
        Membership.objects.filter(account=account, role=Membership.Role.OWNER).values_list(
            "user__email", flat=True
        )
    )


def _tell_owners(account: Account, *, key: str, what: Callable[[], str], by: User) -> None:
    """Email the owners that the team changed, `what` said in the account's language."""
    with translation.override(account.language):
        said = what()
    email_queue(
        key=key,
        account=account,
        to=_owners(account),
        email=render_email(
            "accounts/email/team_changed",
            {
                "account": account,
                "what": said,
                "by": by,
                "settings_url": settings.SITE_URL.rstrip("/") + reverse("accounts:settings"),
            },
            language=account.language,
        ),
    )


def _role_label(role: str) -> str:
    return str(Membership.Role(role).label)


@transaction.atomic
def team_invite(*, account: Account, by: User, email: str, role: str) -> SentInvitation:
    """Invite `email` to join the account as `role`, by an emailed link. An open invitation
    to the same address is replaced (its link stops working).

    Raises PermissionDenied unless `by` is an owner, and TeamError for someone already in
    the account or an unknown role.
    """
    account, _membership = _owner_lock(account, by)
    if role not in Membership.Role.values:
        raise TeamError(_("Choose a role."))
    email = normalise_email(email)
    if Membership.objects.filter(account=account, user__in=User.objects.with_email(email)).exists():
        raise TeamError(_("%(email)s is already a member of this account.") % {"email": email})
    now = timezone.now()
    Invitation.objects.filter(
        account=account, email=email, accepted_at__isnull=True, revoked_at__isnull=True
    ).update(revoked_at=now)
    token = secrets.token_urlsafe(32)
    invitation = Invitation.objects.create(
        account=account,
        email=email,
        role=role,
        token_hash=_hash(token),
        invited_by=by,
        expires_at=now + timedelta(days=settings.INVITATION_DAYS),
    )
    log_action(TEAM_INVITED, obj=invitation, account=account, actor=by, email=email, role=role)
    email_queue(
        key=f"accounts.invitation.{invitation.pk}",
        account=account,
        to=[email],
        email=render_email(
            "accounts/email/invitation",
            {
                "account": account,
                "invitation": invitation,
                "role": _role_label(role),
                "accept_url": settings.SITE_URL.rstrip("/")
                + reverse("accounts:accept", args=[token]),
            },
            language=account.language,
        ),
    )
    _tell_owners(
        account,
        key=f"accounts.team.invited.{invitation.pk}",
        what=lambda: (
            _("%(by)s invited %(email)s as %(role)s.")
            % {"by": by.email, "email": email, "role": _role_label(role)}
        ),
        by=by,
    )
    return SentInvitation(invitation, token)


@transaction.atomic
def team_revoke(*, account: Account, by: User, invitation_id: int) -> Invitation:
    """Withdraw an open invitation: its link stops working."""
    account, _membership = _owner_lock(account, by)
    invitation = Invitation.objects.select_for_update().get(pk=invitation_id, account=account)
    if invitation.accepted_at is not None or invitation.revoked_at is not None:
        return invitation
    invitation.revoked_at = timezone.now()
    invitation.save(update_fields=["revoked_at"])
    log_action(
        TEAM_INVITATION_REVOKED, obj=invitation, account=account, actor=by, email=invitation.email
    )
    return invitation


def invitation_for(token: str) -> Invitation | None:
    """The invitation a link's token is for (open or not), if any."""
    if not token or len(token) > 100:
        return None
    return (
        Invitation.objects.select_related("account", "invited_by")
        .filter(token_hash=_hash(token))
        .first()
    )


def _open_invitation(token: str) -> Invitation:
    invitation = invitation_for(token)
    if invitation is None:
        raise TeamError(_("This invitation link is not valid."))
    account_lock(invitation.account_id)
    invitation = Invitation.objects.select_for_update().get(pk=invitation.pk)
    if invitation.accepted_at is not None:
        raise TeamError(_("This invitation was already accepted."))
    if invitation.revoked_at is not None:
        raise TeamError(
            _("This invitation was withdrawn. Ask an owner of the account for a new one.")
        )
    if invitation.expires_at <= timezone.now():
        raise TeamError(
            _("This invitation has expired. Ask an owner of the account for a new one.")
        )
    return invitation


@transaction.atomic
def team_accept(*, token: str, user: User) -> Membership:
    """`user`, signed in, accepts the invitation of `token`: they join with its role. The
    link works once, before it expires, for the user of the address it was sent to.

    Raises TeamError otherwise (nothing changes).
    """
    invitation = _open_invitation(token)
    if normalise_email(user.email) != invitation.email:
        raise TeamError(
            _("This invitation is for %(email)s. Sign in with that address to accept it.")
            % {"email": invitation.email}
        )
    return _join(invitation, user)


@transaction.atomic
def team_accept_as_new_user(
    *, token: str, full_name: str, password: str
) -> tuple[Membership, User]:
    """Someone without a user accepts the invitation of `token`: the user of the invited
    address is created with `password` and joins with the invitation's role.

    Raises TeamError for a link that does not work (or an address that has a user since:
    they sign in instead) and ValidationError for a password the validators refuse.
    """
    invitation = _open_invitation(token)
    if User.objects.with_email(invitation.email).exists():
        raise TeamError(
            _("%(email)s has a user already: sign in to accept the invitation.")
            % {"email": invitation.email}
        )
    user = User(email=invitation.email, full_name=full_name.strip())
    validate_password(password, user)
    user.set_password(password)
    user.save()
    return _join(invitation, user), user


def _join(invitation: Invitation, user: User) -> Membership:
    account = invitation.account
    membership, created = Membership.objects.get_or_create(
        account=account, user=user, defaults={"role": invitation.role}
    )
    invitation.accepted_at = timezone.now()
    invitation.accepted_by = user
    invitation.save(update_fields=["accepted_at", "accepted_by"])
    if not created:
        # Already a member (added meanwhile): the invitation is used up, the role kept.
        return membership
    log_action(TEAM_JOINED, obj=membership, account=account, actor=user, role=membership.role)
    _tell_owners(
        account,
        key=f"accounts.team.joined.{invitation.pk}",
        what=lambda: (
            _("%(email)s accepted the invitation and joined as %(role)s.")
            % {"email": user.email, "role": _role_label(membership.role)}
        ),
        by=user,
    )
    return membership


def _keeps_an_owner(account: Account, leaving: Membership) -> bool:
    return (
        Membership.objects.filter(account=account, role=Membership.Role.OWNER)
        .exclude(pk=leaving.pk)
        .exists()
    )


@transaction.atomic
def team_change_role(*, account: Account, by: User, membership_id: int, role: str) -> Membership:
    """Give a member another role. The last owner stays an owner.

    Raises PermissionDenied unless `by` is an owner, TeamError otherwise.
    """
    account, _by_membership = _owner_lock(account, by)
    if role not in Membership.Role.values:
        raise TeamError(_("Choose a role."))
    membership = (
        Membership.objects.select_for_update()
        .select_related("user")
        .get(pk=membership_id, account=account)
    )
    if membership.role == role:
        return membership
    if membership.role == Membership.Role.OWNER and not _keeps_an_owner(account, membership):
        raise TeamError(_("An account always keeps at least one owner."))
    before, membership.role = membership.role, role
    membership.save(update_fields=["role"])
    log_action(
        TEAM_ROLE_CHANGED,
        obj=membership,
        account=account,
        actor=by,
        email=membership.user.email,
        before=before,
        role=role,
    )
    _tell_owners(
        account,
        key=f"accounts.team.role.{membership.pk}.{timezone.now().timestamp()}",
        what=lambda: (
            _("%(by)s changed the role of %(email)s from %(before)s to %(role)s.")
            % {
                "by": by.email,
                "email": membership.user.email,
                "before": _role_label(before),
                "role": _role_label(role),
            }
        ),
        by=by,
    )
    return membership


@transaction.atomic
def team_remove(*, account: Account, by: User, membership_id: int) -> None:
    """Remove a member from the account (an owner may remove themselves, but the last owner
    cannot leave). Raises PermissionDenied unless `by` is an owner, TeamError otherwise."""
    account, _by_membership = _owner_lock(account, by)
    membership = (
        Membership.objects.select_for_update()
        .select_related("user")
        .get(pk=membership_id, account=account)
    )
    if membership.role == Membership.Role.OWNER and not _keeps_an_owner(account, membership):
        raise TeamError(_("An account always keeps at least one owner."))
    email = membership.user.email
    log_action(TEAM_REMOVED, obj=membership, account=account, actor=by, email=email)
    membership.delete()
    _tell_owners(
        account,
        key=f"accounts.team.removed.{membership_id}.{timezone.now().timestamp()}",
        what=lambda: (
            _("%(by)s removed %(email)s from the account.") % {"by": by.email, "email": email}
        ),
        by=by,
    )


def team_invitations(account: Account) -> list[Invitation]:
    """The account's invitations still open, newest first."""
    now = timezone.now()
    return list(
        Invitation.objects.filter(
            account=account, accepted_at__isnull=True, revoked_at__isnull=True, expires_at__gt=now
        ).select_related("invited_by")
    )
