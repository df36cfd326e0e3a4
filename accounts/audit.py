"""The audit trail: who changed what money or approval state, and when.

Every action is a constant declared once, in the `audit.py` of the app that performs it,
with a dotted name ("payments.payment.succeeded") and a translatable description for the
people who read the trail (staff in the admin, and the account's activity log). Entries are
only ever added, inside the transaction of the change they record.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import FieldDoesNotExist
from django.db import models
from django.db.models import QuerySet
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from .models import Account, AuditEntry, Membership, User

# What an entry's data says in words ("Visa •••• 4242", "$100.00"), in the active language:
# each app gives one for its actions, since only it knows what its entries hold.
Detail = Callable[[Mapping[str, Any]], str]


@dataclass(frozen=True)
class AuditAction:
    name: str
    description: str | Promise
    # Listed on the account's Activity page; False for what only staff need (escalations).
    activity: bool = True
    detail: Detail | None = None

    def __str__(self) -> str:
        return self.name


_registry: dict[str, AuditAction] = {}


def audit_action(
    name: str,
    description: str | Promise,
    *,
    activity: bool = True,
    detail: Detail | None = None,
) -> AuditAction:
    """Declare an action; its dotted name is `<app>.<object>.<what happened>`.

    `activity=False` keeps it off the account's Activity page (staff-only matters); `detail`
    turns an entry's data into words for that page (it must never need a query).
    """
    if name in _registry:
        raise ValueError(f"The audit action {name!r} is declared twice.")
    if name.count(".") != 2:
        raise ValueError(f"An audit action is named <app>.<object>.<verb>, not {name!r}.")
    action = _registry[name] = AuditAction(name, description, activity=activity, detail=detail)
    return action


def audit_actions() -> list[AuditAction]:
    """Every declared action, by name."""
    return sorted(_registry.values(), key=lambda action: action.name)


def describe_action(name: str) -> str:
    """What an entry's action means, in the active language (its name if undeclared)."""
    action = _registry.get(name)
    return str(action.description) if action else name


def activity_action_names() -> list[str]:
    """The actions the account's Activity page lists."""
    return sorted(name for name, action in _registry.items() if action.activity)


def describe_entry_detail(entry: AuditEntry) -> str:
    """The details of one entry in the active language ("" when its action gives none)."""
    action = _registry.get(entry.action)
    if action is None or action.detail is None:
        return ""
    try:
        return action.detail(entry.data or {})
    except (KeyError, TypeError, ValueError, ArithmeticError):
        # An entry written before its action recorded these data: the description is enough.
        return ""


def account_activity(account: Account) -> QuerySet[AuditEntry]:
    """The account's Activity page: its entries of listed actions, newest first, with who
    did each (one query per page, however many entries)."""
    return (
        AuditEntry.objects.filter(account=account, action__in=activity_action_names())
        .select_related("actor")
        .order_by("-created_at", "-pk")
    )


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


def _role(value: object) -> str:
    try:
        return str(Membership.Role(str(value)).label)
    except ValueError:
        return str(value)


def _team_detail(data: Mapping[str, Any]) -> str:
    """Who the change was about and, where it has one, their (new) role."""
    if "before" in data and "role" in data:
        return _("%(email)s: %(before)s → %(role)s") % {
            "email": data["email"],
            "before": _role(data["before"]),
            "role": _role(data["role"]),
        }
    if "role" in data and "email" in data:
        return f"{data['email']} · {_role(data['role'])}"
    return str(data.get("email", ""))


def _settings_detail(data: Mapping[str, Any]) -> str:
    """The names of the fields changed (never their values: an address is enough said)."""
    names = []
    for field in data["fields"]:
        try:
            model_field = Account._meta.get_field(field)
        except FieldDoesNotExist:
            model_field = None
        if isinstance(model_field, models.Field):
            names.append(str(model_field.verbose_name))
        else:
            names.append(str(field))
    return _(", ").join(names)


def _required_detail(data: Mapping[str, Any]) -> str:
    return str(_("Required of every user") if data["required"] else _("No longer required"))


# The account's team (accounts/team.py).
TEAM_INVITED = audit_action(
    "accounts.team.invited", _("Someone was invited to the account"), detail=_team_detail
)
TEAM_INVITATION_REVOKED = audit_action(
    "accounts.team.revoked", _("An invitation was withdrawn"), detail=_team_detail
)
TEAM_JOINED = audit_action(
    "accounts.team.joined", _("An invitation was accepted"), detail=_team_detail
)
TEAM_ROLE_CHANGED = audit_action(
    "accounts.team.role_changed", _("A member's role was changed"), detail=_team_detail
)
TEAM_REMOVED = audit_action(
    "accounts.team.removed", _("A member was removed from the account"), detail=_team_detail
)

# The account's settings (accounts/services.py).
ACCOUNT_SETTINGS_CHANGED = audit_action(
    "accounts.account.settings_changed",
    _("Company information or options changed"),
    detail=_settings_detail,
)

# Two-factor sign-in (accounts/two_factor.py).
TWO_FACTOR_ENABLED = audit_action("accounts.user.two_factor_on", _("Two-factor sign-in turned on"))
TWO_FACTOR_DISABLED = audit_action(
    "accounts.user.two_factor_off", _("Two-factor sign-in turned off")
)
TWO_FACTOR_RECOVERY_CODES = audit_action(
    "accounts.user.recovery_codes", _("New recovery codes made")
)
ACCOUNT_TWO_FACTOR_REQUIRED = audit_action(
    "accounts.account.two_factor_required",
    _("Two-factor sign-in required (or not) of every user"),
    detail=_required_detail,
)

# The account's tax ID (accounts/tax_ids.py).
TAX_ID_CHANGED = audit_action("accounts.account.tax_id_changed", _("The tax ID was changed"))
TAX_ID_CHECKED = audit_action("accounts.account.tax_id_checked", _("VIES checked the VAT number"))
