"""The account's tax ID: validated with python-stdnum, EU VAT numbers confirmed by VIES.

Format and check digits are checked by python-stdnum for each kind (EU VAT: the member
state's own rules; UK VAT; China's unified social credit code, 统一社会信用代码). When
VIES_CHECK is on, an EU VAT number is also asked of VIES, the European Commission's VAT
Information Exchange System, through its REST API (POST {VIES_URL}/check-vat-number); the
answer, its date and the consultation number (requestIdentifier, given when the seller's own
VAT number is sent as the requester) are kept on the account as evidence. VIES being down
never blocks the customer: the number is kept "not yet confirmed" (taxed as a consumer
meanwhile) and `tax_ids_recheck` asks again every hour.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import httpx
from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from stdnum.cn import uscc
from stdnum.eu import vat as eu_vat
from stdnum.exceptions import ValidationError as StdnumError
from stdnum.gb import vat as gb_vat

from .audit import TAX_ID_CHANGED, TAX_ID_CHECKED, log_action
from .locks import account_lock
from .models import Account, Membership, TaxIdKind, TaxIdStatus, User

logger = logging.getLogger(__name__)

# The 27 member states of the European Union, by ISO 3166 code (the tax rules use these).
EU_MEMBER_STATES = frozenset(
    [
        "AT",
        "BE",
        "BG",
        "CY",
        "CZ",
        "DE",
        "DK",
        "EE",
        "ES",
        "FI",
        "FR",
        "GR",
        "HR",
        "HU",
        "IE",
        "IT",
        "LT",
        "LU",
        "LV",
        "MT",
        "NL",
        "PL",
        "PT",
        "RO",
        "SE",
        "SI",
        "SK",
    ]
)
# Their VAT numbers' prefixes: the ISO code, but EL for Greece.
EU_VAT_PREFIXES = frozenset("EL" if c == "GR" else c for c in EU_MEMBER_STATES)

# VIES's error codes that mean "ask again later" (its REST API's errorWrappers[].error);
# any other error (INVALID_INPUT, INVALID_REQUESTER_INFO, VAT_BLOCKED, IP_BLOCKED...) is
# kept as it is and also leaves the number not yet confirmed.
VIES_RETRYABLE_ERRORS = frozenset(
    {
        "SERVICE_UNAVAILABLE",
        "MS_UNAVAILABLE",
        "TIMEOUT",
        "GLOBAL_MAX_CONCURRENT_REQ",
        "GLOBAL_MAX_CONCURRENT_REQ_TIME",
        "MS_MAX_CONCURRENT_REQ",
        "MS_MAX_CONCURRENT_REQ_TIME",
    }
)


def tax_id_clean(*, kind: str, number: str) -> str:
    """`number` in its standard compact form for `kind` (EU and UK VAT numbers with their
    country prefix). Raises ValidationError with a translated message when the format, the
    length or the check digits are wrong."""
    number = number.strip()
    if not number:
        raise ValidationError(_("Enter the tax ID."), code="required")
    try:
        if kind == TaxIdKind.EU_VAT:
            compact = eu_vat.compact(number)
            if compact[:2] not in EU_VAT_PREFIXES:
                raise ValidationError(
                    _(
                        "An EU VAT number starts with the code of its member state, such as "
                        "DE or FR (EL for Greece)."
                    ),
                    code="prefix",
                )
            return str(eu_vat.validate(compact))
        if kind == TaxIdKind.GB_VAT:
            return "GB" + str(gb_vat.validate(number))
        if kind == TaxIdKind.CN_USCC:
            return str(uscc.validate(number))
    except StdnumError:
        messages = {
            TaxIdKind.EU_VAT: _(
                "This is not a valid EU VAT number: check the country code and the digits."
            ),
            TaxIdKind.GB_VAT: _("This is not a valid UK VAT number: check the digits."),
            TaxIdKind.CN_USCC: _(
                "This is not a valid unified social credit code: it has 18 characters, "
                "check the last one."
            ),
        }
        raise ValidationError(messages[TaxIdKind(kind)], code="invalid") from None
    if kind == TaxIdKind.OTHER:
        return number
    raise ValidationError(_("Choose the kind of tax ID."), code="kind")


# VIES ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ViesAnswer:
    """What VIES said: `valid` is None when it could not answer (`error` says why)."""

    valid: bool | None
    data: dict[str, Any]
    error: str = ""


def vies_check(*, number: str) -> ViesAnswer:
    """Ask VIES whether the EU VAT number `number` (compact, with its prefix) is registered.

    Sends the seller's VAT number as the requester when it is an EU one, so that VIES returns
    a consultation number. Never raises for VIES's troubles: a timeout, a network error, an
    HTTP error or an error answer give `valid=None` with the error's code.
    """
    body: dict[str, str] = {"countryCode": number[:2], "vatNumber": number[2:]}
    try:
        seller = eu_vat.compact(str(settings.SELLER_VAT_ID)) if settings.SELLER_VAT_ID else ""
    except StdnumError:
        seller = ""  # a malformed seller number (the system check says so): no requester
    if seller[:2] in EU_VAT_PREFIXES:
        body["requesterMemberStateCode"] = seller[:2]
        body["requesterNumber"] = seller[2:]
    url = str(settings.VIES_URL).rstrip("/") + "/check-vat-number"
    try:
        response = httpx.post(url, json=body, timeout=float(settings.VIES_TIMEOUT))
        data = response.json()
    except httpx.TimeoutException:
        return ViesAnswer(None, {}, "TIMEOUT")
    except (httpx.HTTPError, ValueError) as error:
        logger.warning("VIES did not answer: %s", error)
        return ViesAnswer(None, {}, "SERVICE_UNAVAILABLE")
    if not isinstance(data, dict):
        return ViesAnswer(None, {}, "SERVICE_UNAVAILABLE")
    wrappers = data.get("errorWrappers") or []
    if data.get("actionSucceed") is False or wrappers or response.status_code >= 400:
        code = next(
            (str(w.get("error")) for w in wrappers if isinstance(w, dict) and w.get("error")),
            f"HTTP_{response.status_code}",
        )
        return ViesAnswer(None, data, code)
    if not isinstance(data.get("valid"), bool):
        return ViesAnswer(None, data, "SERVICE_UNAVAILABLE")
    return ViesAnswer(bool(data["valid"]), data)


def _evidence(answer: ViesAnswer) -> dict[str, Any]:
    keep = ("countryCode", "vatNumber", "requestDate", "valid", "requestIdentifier", "name")
    evidence = {key: answer.data[key] for key in keep if key in answer.data}
    if answer.error:
        evidence["error"] = answer.error
    return evidence


@dataclass(frozen=True)
class TaxIdResult:
    status: str
    vies: ViesAnswer | None = None


def tax_id_status_for(*, kind: str, number: str) -> TaxIdResult:
    """The status of a well-formed `number`: VIES decides EU VAT numbers when VIES_CHECK is
    on (unconfirmed when it cannot answer); otherwise the format and check digits do."""
    if kind == TaxIdKind.EU_VAT and settings.VIES_CHECK:
        answer = vies_check(number=number)
        if answer.valid is None:
            return TaxIdResult(TaxIdStatus.UNCONFIRMED, answer)
        return TaxIdResult(TaxIdStatus.VALID if answer.valid else TaxIdStatus.INVALID, answer)
    return TaxIdResult(TaxIdStatus.VALID)


@transaction.atomic
def account_set_tax_id(
    *,
    account: Account,
    by: User,
    kind: str,
    number: str,
    invoice_title: str = "",
    checked: TaxIdResult | None = None,
) -> Account:
    """Record the tax ID of `account` (an empty `kind` removes it), with its status and
    VIES's evidence (`checked`, from `tax_id_status_for`, asked before this transaction so no
    lock is held while VIES answers). `number` must be clean (`tax_id_clean`).

    Only an owner may do it: raises PermissionDenied otherwise.
    """
    account = account_lock(account.pk)
    if not Membership.objects.filter(account=account, user=by, role=Membership.Role.OWNER).exists():
        raise PermissionDenied("Only an owner may change the tax ID.")
    if not kind:
        number, invoice_title, checked = "", "", None
    elif checked is None:
        checked = TaxIdResult(TaxIdStatus.VALID)
    account.tax_id_kind = kind
    account.tax_id = number
    account.invoice_title = invoice_title if kind == TaxIdKind.CN_USCC else ""
    account.tax_id_status = checked.status if checked else ""
    account.tax_id_evidence = _evidence(checked.vies) if checked and checked.vies else {}
    account.tax_id_checked_at = timezone.now() if checked and checked.vies else None
    account.save(
        update_fields=[
            "tax_id_kind",
            "tax_id",
            "invoice_title",
            "tax_id_status",
            "tax_id_evidence",
            "tax_id_checked_at",
        ]
    )
    log_action(
        TAX_ID_CHANGED,
        obj=account,
        account=account,
        actor=by,
        kind=kind,
        tax_id=number,
        status=account.tax_id_status,
    )
    return account


def account_recheck_tax_id(*, account_id: int) -> str:
    """Ask VIES again about the account's not yet confirmed EU VAT number; returns the
    status afterwards. VIES is asked outside any lock; the answer is recorded only if the
    number is still the one asked about."""
    account = Account.objects.get(pk=account_id)
    if account.tax_id_kind != TaxIdKind.EU_VAT or account.tax_id_status != TaxIdStatus.UNCONFIRMED:
        return account.tax_id_status
    number = account.tax_id
    result = tax_id_status_for(kind=account.tax_id_kind, number=number)
    with transaction.atomic():
        account = account_lock(account_id)
        if account.tax_id != number or account.tax_id_status != TaxIdStatus.UNCONFIRMED:
            return account.tax_id_status
        account.tax_id_status = result.status
        if result.vies is not None:
            account.tax_id_evidence = _evidence(result.vies)
            account.tax_id_checked_at = timezone.now()
        account.save(update_fields=["tax_id_status", "tax_id_evidence", "tax_id_checked_at"])
        log_action(
            TAX_ID_CHECKED,
            obj=account,
            account=account,
            tax_id=number,
            status=result.status,
            request_identifier=account.tax_id_evidence.get("requestIdentifier", ""),
        )
    return result.status


def tax_ids_unconfirmed() -> list[int]:
    """Ids of the accounts whose EU VAT number VIES has not confirmed yet."""
    return list(
        Account.objects.filter(
            tax_id_kind=TaxIdKind.EU_VAT, tax_id_status=TaxIdStatus.UNCONFIRMED
        ).values_list("pk", flat=True)
    )
