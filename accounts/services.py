from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import transaction

from .audit import ACCOUNT_SETTINGS_CHANGED, log_action
from .locks import account_lock
from .models import Account, Membership, User

COMPANY_FIELDS = (
    "company_name",
    "address_line1",
    "address_line2",
    "city",
    "region",
    "postal_code",
    "country",
    "phone",
    "eu_supported",
    "language",
)


@transaction.atomic
def account_update_company_info(*, account: Account, by: User, **values: Any) -> Account:
    """Change the company information and options of `account`.

    Only an owner of the account may do it; raises PermissionDenied otherwise and ValueError
    for a field that is not company information.
    """
    unknown = set(values) - set(COMPANY_FIELDS)
    if unknown:
        raise ValueError(f"Not company information: {', '.join(sorted(unknown))}")
    account = account_lock(account.pk)
    if not Membership.objects.filter(account=account, user=by, role=Membership.Role.OWNER).exists():
        raise PermissionDenied("Only an owner may change the company information.")
    changed = [name for name, value in values.items() if getattr(account, name) != value]
    for name in changed:
        setattr(account, name, values[name])
    if changed:
        account.save(update_fields=changed)
        log_action(ACCOUNT_SETTINGS_CHANGED, obj=account, account=account, actor=by, fields=changed)
    return account
