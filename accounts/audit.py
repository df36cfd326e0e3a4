"""The audit trail: who changed what money or approval state, and when.

Every action is a constant declared once, in the `audit.py` of the app that performs it,
with a dotted name ("payments.payment.succeeded") and a translatable description for the
people who read the trail (staff in the admin, and the account's activity log). Entries are
only ever added, inside the transaction of the change they record.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.db import models
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from .models import Account, AuditEntry, User


@dataclass(frozen=True)
class AuditAction:
    name: str
    description: str | Promise

    def __str__(self) -> str:
        return self.name


_registry: dict[str, AuditAction] = {}


def audit_action(name: str, description: str | Promise) -> AuditAction:
    """Declare an action; its dotted name is `<app>.<object>.<what happened>`."""
    if name in _registry:
        raise ValueError(f"The audit action {name!r} is declared twice.")
    if name.count(".") != 2:
        raise ValueError(f"An audit action is named <app>.<object>.<verb>, not {name!r}.")
    action = _registry[name] = AuditAction(name, description)
    return action


def audit_actions() -> list[AuditAction]:
    """Every declared action, by name."""
    return sorted(_registry.values(), key=lambda action: action.name)


def describe_action(name: str) -> str:
    """What an entry's action means, in the active language (its name if undeclared)."""
    action = _registry.get(name)
    return str(action.description) if action else name


def audit_entry(
    action: AuditAction,
    *,
    obj: models.Model,
    account: Account | None,
    actor: User | None = None,
    **data: Any,
) -> AuditEntry:
    """The entry recording `action` on `obj`, unsaved (`log_actions` adds many at once)."""
    if _registry.get(action.name) is not action:
        raise ValueError(f"The audit action {action.name!r} is not declared.")
    return AuditEntry(
        account=account,
        actor=actor,
        action=action.name,
        object_type=obj._meta.label_lower,
        object_id=str(obj.pk),
        data=data,
    )


def log_action(
    action: AuditAction,
    *,
    obj: models.Model,
    account: Account | None,
    actor: User | None = None,
    **data: Any,
) -> AuditEntry:
    """Record `action` on `obj` in the audit trail (inside the caller's transaction)."""
    entry = audit_entry(action, obj=obj, account=account, actor=actor, **data)
    entry.save(force_insert=True)
    return entry


def log_actions(entries: Sequence[AuditEntry]) -> list[AuditEntry]:
    """Record the entries `audit_entry` made, in one INSERT (inside the caller's
    transaction); entries are only ever added, never changed."""
    if any(entry.pk is not None for entry in entries):
        raise ValueError("Audit entries are only ever added.")
    return AuditEntry.objects.bulk_create(entries) if entries else []


# The account's team (accounts/team.py).
TEAM_INVITED = audit_action("accounts.team.invited", _("Someone was invited to the account"))
TEAM_INVITATION_REVOKED = audit_action("accounts.team.revoked", _("An invitation was withdrawn"))
TEAM_JOINED = audit_action("accounts.team.joined", _("An invitation was accepted"))
TEAM_ROLE_CHANGED = audit_action("accounts.team.role_changed", _("A member's role was changed"))
TEAM_REMOVED = audit_action("accounts.team.removed", _("A member was removed from the account"))

# Two-factor sign-in (accounts/two_factor.py).
TWO_FACTOR_ENABLED = audit_action("accounts.user.two_factor_on", _("Two-factor sign-in turned on"))
TWO_FACTOR_DISABLED = audit_action(
    "accounts.user.two_factor_off", _("Two-factor sign-in turned off")
)
TWO_FACTOR_RECOVERY_CODES = audit_action(
    "accounts.user.recovery_codes", _("New recovery codes made")
)
ACCOUNT_TWO_FACTOR_REQUIRED = audit_action(
    "accounts.account.two_factor_required", _("Two-factor sign-in required (or not) of every user")
)
